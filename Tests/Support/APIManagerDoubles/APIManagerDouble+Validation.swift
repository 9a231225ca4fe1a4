// The write side's bodies, checked as the published schemas say (apiPolicy.json, automatedPolicy.json) and as the
// platform answers (400 for a Message Logging configuration with flat fields): anything else is refused.
import Core

extension APIManagerDouble {
    enum Validated<T> { case success(T), failure(String) }

    /// The Message Logging policy's `configurationData`: `loggingConfiguration[]` of `{itemName, itemData{message,
    /// level, ...}}`, levels INFO|WARN|ERROR|DEBUG.
    static func validateMessageLogging(_ config: JSONValue) -> String? {
        guard let items = config["loggingConfiguration"]?.arrayValue, !items.isEmpty else {
            return "message-logging: configurationData.loggingConfiguration must be a non-empty array"
        }
        for (i, item) in items.enumerated() {
            guard item["itemName"]?.stringValue?.isEmpty == false else { return "message-logging: loggingConfiguration[\(i)].itemName is required" }
            guard let data = item["itemData"], data.objectValue != nil else { return "message-logging: loggingConfiguration[\(i)].itemData is required" }
            guard data["message"]?.stringValue?.isEmpty == false else { return "message-logging: itemData.message is required" }
            guard let level = data["level"]?.stringValue, ["INFO", "WARN", "ERROR", "DEBUG"].contains(level) else {
                return "message-logging: itemData.level must be INFO, WARN, ERROR or DEBUG"
            }
            let known: Set<String> = ["message", "conditional", "category", "level", "firstSection", "secondSection"]
            for m in data.objectValue!.members where !known.contains(m.key) { return "message-logging: unknown itemData field \(m.key)" }
            for flag in ["firstSection", "secondSection"] where data[flag] != nil && data[flag]?.boolValue == nil {
                return "message-logging: itemData.\(flag) must be a boolean"
            }
        }
        return nil
    }

    static func validatePointcut(_ v: JSONValue?) -> String? {
        guard let v, !v.isNull else { return nil }
        guard let items = v.arrayValue else { return "pointcutData must be null or an array" }
        for item in items {
            guard let o = item.objectValue, o.members.count == 2, item["methodRegex"]?.stringValue != nil,
                  item["uriTemplateRegex"]?.stringValue != nil else {
                return "pointcutData items are {methodRegex, uriTemplateRegex}"
            }
        }
        return nil
    }

    /// POST (every required field) or PATCH (`configurationData, assetVersion, label, pointcutData, order, disabled`).
    static func validatePolicyBody(_ bytes: [UInt8], creating: Bool, existing: Policy?) -> Validated<Policy> {
        guard let body = try? JSONReader.parse(bytes), let object = body.objectValue else { return .failure("the body is not a JSON object") }
        let allowed: Set<String> = creating
            ? ["configurationData", "pointcutData", "groupId", "assetId", "assetVersion", "policyTemplateId", "apiVersionId", "label", "order", "disabled"]
            : ["configurationData", "assetVersion", "label", "pointcutData", "order", "disabled"]
        for m in object.members where !allowed.contains(m.key) {
            return .failure(m.key == "order:" ? "unknown field \"order:\" (send order)" : "unknown field \(m.key)")
        }
        var p = existing ?? Policy(assetID: "", assetVersion: "", order: 0, configuration: .object(JSONObject()))
        if creating {
            guard let group = body["groupId"]?.stringValue, !group.isEmpty, let asset = body["assetId"]?.stringValue, !asset.isEmpty,
                  let version = body["assetVersion"]?.stringValue, !version.isEmpty else {
                return .failure("groupId, assetId and assetVersion are required")
            }
            guard body["configurationData"]?.objectValue != nil else { return .failure("configurationData is required and must be an object") }
            p.groupID = group
            p.assetID = asset
            p.assetVersion = version
        }
        if let c = body["configurationData"] {
            guard c.objectValue != nil else { return .failure("configurationData must be an object") }
            p.configuration = c
        }
        if let v = body["assetVersion"] {
            guard let s = v.stringValue, !s.isEmpty else { return .failure("assetVersion must be a non-empty string") }
            p.assetVersion = s
        }
        if let l = body["label"] {
            if l.isNull { p.label = nil } else {
                guard let s = l.stringValue, s.count <= 255 else { return .failure("label must be a string of at most 255 characters or null") }
                p.label = s
            }
        }
        if let why = validatePointcut(body["pointcutData"]) { return .failure(why) }
        if let pc = body["pointcutData"] { p.pointcut = pc.isNull ? nil : pc }
        if let o = body["order"], !o.isNull {
            guard let n = o.int64Value, n >= 1 else { return .failure("order must be an integer of at least 1") }
            p.order = Int(n)
        }
        if let d = body["disabled"] {
            guard let b = d.boolValue else { return .failure("disabled must be a boolean") }
            p.disabled = b
        }
        if body["policyTemplateId"] != nil && body["policyTemplateId"]?.stringValue == nil { return .failure("policyTemplateId must be a string") }
        if body["apiVersionId"] != nil && body["apiVersionId"]?.int64Value == nil { return .failure("apiVersionId must be an integer") }
        if p.assetID == "message-logging" || p.assetID == "message-logging-outbound", let why = validateMessageLogging(p.configuration) {
            return .failure(why)
        }
        return .success(p)
    }

    /// POST requires `ruleOfApplication.environmentId`, `groupId`, `assetId`, `assetVersion`, `configurationData`;
    /// `technologies` is exactly one of mule4|flexGateway; `range.from` is required when `range` is sent; `order` >= 1.
    /// PATCH takes the same fields, each checked when present (`order` may be null).
    static func validateAutomatedBody(_ bytes: [UInt8], org: String, existing: AutomatedPolicy?) -> Validated<AutomatedPolicy> {
        guard let body = try? JSONReader.parse(bytes), let object = body.objectValue else { return .failure("the body is not a JSON object") }
        let allowed: Set<String> = ["ruleOfApplication", "groupId", "assetId", "assetVersion", "configurationData", "pointcutData", "order", "disabled",
                                    "policyTemplateId"]
        for m in object.members where !allowed.contains(m.key) { return .failure("unknown field \(m.key)") }
        let creating = existing == nil
        var p = existing ?? AutomatedPolicy(organizationID: org, environmentID: "", assetID: "", assetVersion: "", configuration: .object(JSONObject()))
        if let rule = body["ruleOfApplication"] {
            guard let r = rule.objectValue else { return .failure("ruleOfApplication must be an object") }
            for m in r.members where !["environmentId", "organizationId", "technologies", "range"].contains(m.key) {
                return .failure("unknown field ruleOfApplication.\(m.key)")
            }
            guard let env = rule["environmentId"]?.stringValue, !env.isEmpty else { return .failure("ruleOfApplication.environmentId is required") }
            if let o = rule["organizationId"], o.stringValue != org { return .failure("ruleOfApplication.organizationId must be \(org)") }
            if let t = rule["technologies"] {
                guard let items = t.arrayValue, items.count == 1, let tech = items[0].stringValue, ["mule4", "flexGateway"].contains(tech) else {
                    return .failure("ruleOfApplication.technologies must hold exactly one of mule4, flexGateway")
                }
                p.technologies = [tech]
            }
            if let range = rule["range"], !range.isNull {
                guard range["from"]?.stringValue?.isEmpty == false else { return .failure("ruleOfApplication.range.from is required when range is sent") }
                p.range = range
            }
            if let existing, env != existing.environmentID { return .failure("ruleOfApplication.environmentId cannot change") }
            p.environmentID = env
        } else if creating {
            return .failure("ruleOfApplication.environmentId is required")
        }
        for (name, keyPath) in [("groupId", \AutomatedPolicy.groupID), ("assetId", \AutomatedPolicy.assetID), ("assetVersion", \AutomatedPolicy.assetVersion)] {
            if let v = body[name] {
                guard let s = v.stringValue, !s.isEmpty else { return .failure("\(name) must be a non-empty string") }
                p[keyPath: keyPath] = s
            } else if creating {
                return .failure("\(name) is required")
            }
        }
        if let c = body["configurationData"] {
            guard c.objectValue != nil || c.arrayValue != nil else { return .failure("configurationData must be an object or an array") }
            p.configuration = c
        } else if creating {
            return .failure("configurationData is required")
        }
        if let why = validatePointcut(body["pointcutData"]) { return .failure(why) }
        if let pc = body["pointcutData"] { p.pointcut = pc.isNull ? nil : pc }
        if let o = body["order"] {
            if o.isNull { p.order = nil } else {
                guard let n = o.int64Value, n >= 1 else { return .failure("order must be an integer of at least 1") }
                p.order = Int(n)
            }
        }
        if let d = body["disabled"] {
            guard let b = d.boolValue else { return .failure("disabled must be a boolean") }
            p.disabled = b
        }
        if p.assetID == "message-logging" || p.assetID == "message-logging-outbound", let why = validateMessageLogging(p.configuration) {
            return .failure(why)
        }
        return .success(p)
    }
}

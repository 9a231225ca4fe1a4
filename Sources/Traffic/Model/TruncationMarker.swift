// The short "body truncated" stand-ins sent instead of a body CloudWatch cut off, one per content type.

/// A truncated body cannot be forwarded as the client sent it, and forwarding half a JSON document would make the
/// consumer's parser fail or, worse, learn a wrong schema. As the reference integration does, we replace it with a
/// small, valid document of the body's own content type that says it was truncated, and mark the transaction
/// `cq-discovery-only: true` so the consumer uses it for API discovery only.
public enum TruncationMarker {
    public enum Kind: String, Sendable, CaseIterable {
        case json, soap11, soap12, xml, form, html, text
    }

    public static let json = #"{"cq-body-truncated":"true"}"#
    public static let xml = #"<cq-body-truncated>true</cq-body-truncated>"#
    public static let soap11 =
        #"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><cq-body-truncated>true</cq-body-truncated></soapenv:Body></soapenv:Envelope>"#
    public static let soap12 =
        #"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><cq-body-truncated>true</cq-body-truncated></env:Body></env:Envelope>"#
    public static let form = "cq-body-truncated=true"
    public static let html = #"<!DOCTYPE html><html><head><meta name="cq-body-truncated" content="true"></head><body></body></html>"#
    public static let text = "cq-body-truncated"

    public static func marker(for kind: Kind) -> String {
        switch kind {
        case .json: return json
        case .soap11: return soap11
        case .soap12: return soap12
        case .xml: return xml
        case .form: return form
        case .html: return html
        case .text: return text
        }
    }

    /// Picks the marker kind from the content type; without one, from the first bytes of what survived.
    public static func kind(contentType: String?, truncatedBody: UnsafeRawBufferPointer) -> Kind {
        if let contentType {
            var lowered = contentType.lowercased()
            if let semicolon = lowered.firstIndex(of: ";") { lowered = String(lowered[..<semicolon]) }
            lowered = String(lowered.drop(while: { $0 == " " }))
            if lowered == "application/soap+xml" { return .soap12 }
            if lowered.hasSuffix("/json") || lowered.hasSuffix("+json") { return .json }
            if lowered.hasSuffix("/xml") || lowered.hasSuffix("+xml") {
                return looksLikeSOAP(truncatedBody) ? .soap11 : .xml
            }
            if lowered == "application/x-www-form-urlencoded" { return .form }
            if lowered == "text/html" || lowered == "application/xhtml" { return .html }
            if lowered.hasPrefix("text/") { return .text }
        }
        return sniff(truncatedBody)
    }

    static func sniff(_ body: UnsafeRawBufferPointer) -> Kind {
        var i = 0
        while i < body.count, body[i] == 0x20 || body[i] == 0x0A || body[i] == 0x0D || body[i] == 0x09 { i += 1 }
        guard i < body.count else { return .text }
        switch body[i] {
        case UInt8(ascii: "{"), UInt8(ascii: "["): return .json
        case UInt8(ascii: "<"):
            let head = UnsafeRawBufferPointer(rebasing: body[i..<min(body.count, i + 64)])
            if startsWithLowercase(head, "<!doctype html") || startsWithLowercase(head, "<html") { return .html }
            return looksLikeSOAP(body) ? .soap11 : .xml
        default:
            return .text
        }
    }

    static func looksLikeSOAP(_ body: UnsafeRawBufferPointer) -> Bool {
        let head = UnsafeRawBufferPointer(rebasing: body[0..<min(body.count, 512)])
        return TextExecutionLogFormat.find(":Envelope", in: head) != nil || TextExecutionLogFormat.find("<Envelope", in: head) != nil
    }

    static func startsWithLowercase(_ bytes: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        let n = lower.utf8CodeUnitCount
        guard bytes.count >= n else { return false }
        for k in 0..<n where asciiLower(bytes[k]) != lower.utf8Start[k] { return false }
        return true
    }
}

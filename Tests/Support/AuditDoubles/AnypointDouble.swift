// A strict Anypoint control plane on loopback: client-credentials tokens that expire, the Audit Log Query API with
// cursor pagination over a generated history, both entry shapes, and 503 once the rate window's budget is spent.
// Faults on demand: empty pages that still carry a cursor, a cursor sent back again, items of `data` that are not
// JSON objects, and a query held at a known page (so a test can kill the client there without racing a timer).
import Glibc
import HTTP
import Core

public final class AnypointDouble: Sendable {
    public struct Entry: Sendable {
        public let ts: Int64
        public let value: JSONValue
        /// Test-side identity, independent of the exporter's key logic: `id`, or the nested object's id.
        public let identity: String
        public let hasID: Bool
        /// Bytes served verbatim instead of `value` (an item that is not a JSON object, or not JSON at all).
        public let raw: [UInt8]?
        public init(ts: Int64, value: JSONValue, identity: String, hasID: Bool) {
            self.ts = ts
            self.value = value
            self.identity = identity
            self.hasID = hasID
            raw = nil
        }

        /// An item served as these exact bytes at time `ts` (the double still needs a time to place it in windows).
        public init(ts: Int64, raw: [UInt8], identity: String) {
            self.ts = ts
            value = .null
            self.identity = identity
            hasID = false
            self.raw = raw
        }
    }

    public struct Settings: Sendable {
        public var clientID = "audit-client"
        public var clientSecret = "audit-secret-value"
        public var organizations = ["org-1"]
        /// How long a token really lives, and what `expires_in` says (they differ to model early revocation).
        public var tokenLifetimeMs: Int64 = 3_600_000
        public var reportedExpiresIn: Int64 = 3_600
        public var rateWindowMs: Int64 = 60_000
        public var budgetPerWindow = 1_000_000
        /// Before each page, the chance (in percent) that the answer is an empty page with a cursor instead (as when
        /// entries the service filtered out fill a page); such a page starts a run of 1...emptyPageMaxRun of them.
        public var emptyPagePercent = 0
        public var emptyPageMaxRun = 3
        /// Seeds the empty-page choices (a failure replays with the same seed).
        public var seed: UInt64 = 1
        /// Organization → page number: that page comes back with the cursor that asked for it (a loop).
        public var repeatCursorAt: [String: Int] = [:]
        /// The query with this number (counting from 1 over the double's life) is held until `stallMs` passes or
        /// the test clears it; `stats.stalledAtQuery` says it has arrived.
        public var stallAtQuery: Int?
        public var stallMs: Int64 = 120_000
        public init() {}
    }

    public struct Stats: Sendable {
        public var tokensIssued = 0
        public var queries = 0
        public var unauthorized = 0
        public var throttled = 0
        /// Requests that came in a rate window after that window had answered 503 (a client that does not wait).
        public var requestsAfter503InSameWindow = 0
        public var badRequests: [String] = []
        public var meCalls = 0
        /// Rate-limited requests per rate window (window start in epoch ms → requests, 503s included).
        public var requestsPerWindow: [Int64: Int] = [:]
        public var emptyPagesWithCursor = 0
        public var repeatedCursors = 0
        /// Set when the query to stall at has arrived (the client has committed every page before it).
        public var stalledAtQuery: Int?
    }

    private struct State {
        var entries: [String: [Entry]] = [:]
        var tokens: [String: Int64] = [:]
        /// What a cursor continues: the window, the offset of the next entry, the page it came with, and how many
        /// more empty pages the run it belongs to still has.
        var cursors: [String: (org: String, start: Int64, end: Int64, offset: Int, page: Int, emptyLeft: Int)] = [:]
        var windowCounts: [Int64: Int] = [:]
        var windows503: Set<Int64> = []
        var stats = Stats()
        var settings: Settings
        var responses = 0
        var queriesArrived = 0
        var rng: SplitMix
    }

    public let server: LoopbackServer
    private let state: Locked<State>
    public var baseURL: String { server.baseURL }
    public var settings: Settings { state.value.settings }
    public var stats: Stats { state.value.stats }

    public init(_ settings: Settings = Settings(), port: UInt16 = 0) throws {
        let state = Locked(State(settings: settings, rng: SplitMix(seed: settings.seed)))
        self.state = state
        server = try LoopbackServer(port: port) { request in AnypointDouble.handle(request, state) }
    }

    deinit { server.stop() }

    public func update(_ body: @Sendable (inout Settings) -> Void) { state.withLock { body(&$0.settings) } }

    public func add(_ org: String, _ new: [Entry]) {
        state.withLock { s in
            s.entries[org, default: []] += new
            s.entries[org]!.sort { ($0.ts, $0.identity) < ($1.ts, $1.identity) }
        }
    }

    public func entries(_ org: String) -> [Entry] { state.value.entries[org] ?? [] }

    /// `count` entries spread over `[from, to]`, alternating the two known shapes.
    public static func history(count: Int, from: Int64, to: Int64, prefix: String = "e", seed: UInt64 = 1) -> [Entry] {
        var rng = SplitMix(seed: seed)
        let actions = ["Create", "Update", "Delete", "Login", "Deploy", "Stop", "Revoke", "Edit", "Grant"]
        let types = ["api", "policy", "application", "contract", "user", "role", "connectedApp", "environment"]
        let envs = ["Production", "Sandbox", "dev", "prod-eu"]
        var out: [Entry] = []
        out.reserveCapacity(count)
        let span = max(1, to - from)
        for i in 0..<count {
            let ts = from + Int64(i) * span / Int64(max(1, count)) + Int64(rng.next() % 1_000)
            let action = actions[Int(rng.next() % UInt64(actions.count))]
            let type = types[Int(rng.next() % UInt64(types.count))]
            let identity = "\(prefix)-\(i)"
            if i % 2 == 0 {
                let v = JSONValue.object(JSONObject([
                    ("id", .string(identity)),
                    ("createdAt", .string(EpochMillis(ts).iso8601)),
                    ("action", .string(action)),
                    ("objectType", .string(type)),
                    ("objectName", .string("object \(i) \"quoted\" é")),
                    ("environmentName", .string(envs[i % envs.count])),
                    ("userName", .string("user\(i % 7)")),
                    ("platform", .string("API Manager")),
                ]))
                out.append(Entry(ts: ts, value: v, identity: identity, hasID: true))
            } else {
                let v = JSONValue.object(JSONObject([
                    ("action", .string(action.lowercased())),
                    ("clientIP", .string("200.61.166.\(i % 250)")),
                    ("failed", .bool(i % 11 == 0)),
                    ("failedCause", .null),
                    ("objects", .array([.object(JSONObject([("objectId", .string(identity)), ("objectName", .string("1.0")),
                                                            ("objectType", .string(type)), ("parentId", .string("11697000")),
                                                            ("parentType", .string("api"))]))])),
                    ("payload", .object(JSONObject([("properties", .string("Example")), ("subaction", .string("update endpoint"))]))),
                    ("platform", .string("api-platform-api")),
                    ("serverIP", .string("10.0.1.203")),
                    ("timestamp", .int(ts)),
                    ("userId", .string("92ba3a8a-\(i % 5)")),
                ]))
                out.append(Entry(ts: ts, value: v, identity: identity, hasID: false))
            }
        }
        return out
    }

    // MARK: - serving

    private static func json(_ status: Int, _ text: String) -> ServerResponse {
        ServerResponse(status: status, headers: [HTTPHeader("Content-Type", "application/json")], text: text)
    }

    private static func handle(_ request: ServerRequest, _ state: Locked<State>) -> ServerResponse {
        let now = EpochMillis.now().value
        let path = request.path
        if request.method == "POST" && path == "/accounts/api/v2/oauth2/token" { return token(request, state, now) }
        // Everything else is rate limited and needs a live token.
        let limited: ServerResponse? = state.withLock { s in
            let window = now / s.settings.rateWindowMs
            s.stats.requestsPerWindow[window * s.settings.rateWindowMs, default: 0] += 1
            if s.windows503.contains(window) { s.stats.requestsAfter503InSameWindow += 1 }
            let used = s.windowCounts[window, default: 0]
            if used >= s.settings.budgetPerWindow {
                s.windows503.insert(window)
                s.stats.throttled += 1
                return json(503, "{\"message\":\"Service Unavailable\"}")
            }
            s.windowCounts[window] = used + 1
            guard let auth = request.header("Authorization"), auth.hasPrefix("Bearer "),
                  let expires = s.tokens[String(auth.dropFirst(7))], expires > now else {
                s.stats.unauthorized += 1
                return json(401, "{\"message\":\"Unauthorized\"}")
            }
            return nil
        }
        if let limited { return limited }
        if request.method == "GET" && path == "/accounts/api/me" {
            return state.withLock { s in
                s.stats.meCalls += 1
                return json(200, "{\"client\":{\"client_id\":\"\(s.settings.clientID)\",\"name\":\"audit\",\"org_id\":\"\(s.settings.organizations[0])\"}}")
            }
        }
        let parts = path.split(separator: "/")
        if request.method == "POST", parts.count == 5, parts[0] == "audit", parts[1] == "v2", parts[2] == "organizations", parts[4] == "query" {
            return query(String(parts[3]), request, state)
        }
        return bad(state, 404, "no route \(request.method) \(path)")
    }

    private static func bad(_ state: Locked<State>, _ status: Int, _ why: String) -> ServerResponse {
        state.withLock { $0.stats.badRequests.append(why) }
        return json(status, "{\"message\":\"\(why)\"}")
    }

    private static func token(_ request: ServerRequest, _ state: Locked<State>, _ now: Int64) -> ServerResponse {
        guard let form = tokenForm(request) else { return bad(state, 415, "token: form encoding expected") }
        return state.withLock { s in
            guard form["grant_type"] == "client_credentials", form["client_id"] == s.settings.clientID,
                  form["client_secret"] == s.settings.clientSecret else {
                s.stats.badRequests.append("token: bad credentials")
                return json(401, "{\"error\":\"invalid_client\"}")
            }
            s.stats.tokensIssued += 1
            let token = "tok-\(s.stats.tokensIssued)-\(UInt32.random(in: 0...UInt32.max))"
            s.tokens[token] = now + s.settings.tokenLifetimeMs
            return json(200, "{\"access_token\":\"\(token)\",\"token_type\":\"bearer\",\"expires_in\":\(s.settings.reportedExpiresIn)}")
        }
    }

    static let allowedFields: Set<String> = ["startDate", "endDate", "userIds", "objectIds", "parentIds", "platforms", "objectTypes",
                                             "actions", "limit", "offset", "failed", "ascending", "cursor", "environmentIds"]

    /// Holds the query numbered `stallAtQuery` (outside the lock: other connections go on) until released or
    /// `stallMs` passes. By then the client has committed every earlier page, so a kill lands at a known page.
    private static func holdIfAsked(_ state: Locked<State>) {
        let hold: Int64? = state.withLock { s in
            s.queriesArrived += 1
            guard s.settings.stallAtQuery == s.queriesArrived else { return nil }
            s.stats.stalledAtQuery = s.queriesArrived
            return s.settings.stallMs
        }
        guard let hold else { return }
        let until = EpochMillis.now().value + hold
        while EpochMillis.now().value < until, state.value.settings.stallAtQuery != nil { usleep(10_000) }
    }

    private static func query(_ org: String, _ request: ServerRequest, _ state: Locked<State>) -> ServerResponse {
        guard request.target.hasSuffix("?cursorPagination=true") else { return bad(state, 400, "cursorPagination=true expected") }
        guard request.header("Content-Type")?.hasPrefix("application/json") == true else { return bad(state, 415, "JSON body expected") }
        guard let body = try? JSONReader.parse(request.body), let object = body.objectValue else { return bad(state, 400, "body is not a JSON object") }
        for m in object.members where !allowedFields.contains(m.key) { return bad(state, 400, "unknown field \(m.key)") }
        guard let start = body["startDate"]?.int64Value, let end = body["endDate"]?.int64Value, start <= end else {
            return bad(state, 400, "startDate/endDate missing or reversed")
        }
        let limit = Int(body["limit"]?.int64Value ?? 25)
        guard (1...200).contains(limit) else { return bad(state, 400, "limit out of range") }
        func list(_ name: String) -> Set<String>? { body[name]?.arrayValue.map { Set($0.compactMap(\.stringValue)) } }
        let actions = list("actions"), types = list("objectTypes"), platforms = list("platforms"), users = list("userIds")
        let objectIds = list("objectIds")
        holdIfAsked(state)

        return state.withLock { s -> ServerResponse in
            guard s.entries[org] != nil || s.settings.organizations.contains(org) else {
                s.stats.badRequests.append("unknown org \(org)")
                return json(403, "{\"message\":\"forbidden\"}")
            }
            var offset = 0, pageNumber = 1, emptyLeft = 0
            let sentCursor = body["cursor"]?.stringValue
            if let cursor = sentCursor {
                guard let c = s.cursors[cursor] else { s.stats.badRequests.append("unknown cursor"); return json(400, "{\"message\":\"invalid cursor\"}") }
                guard c.org == org, c.start == start, c.end == end else {
                    s.stats.badRequests.append("cursor sent with another window")
                    return json(400, "{\"message\":\"cursor does not match the query\"}")
                }
                offset = c.offset
                pageNumber = c.page + 1
                emptyLeft = c.emptyLeft
            }
            s.stats.queries += 1
            s.responses += 1
            // An empty page that still carries a cursor, at any place: first, between, after the last entries.
            if emptyLeft > 0 || (s.settings.emptyPagePercent > 0 && Int(s.rng.next() % 100) < s.settings.emptyPagePercent) {
                let left = emptyLeft > 0 ? emptyLeft - 1 : Int(s.rng.next() % UInt64(max(1, s.settings.emptyPageMaxRun)))
                let next = "c\(s.cursors.count + 1)-\(UInt32.random(in: 0...UInt32.max))"
                s.cursors[next] = (org, start, end, offset, pageNumber, left)
                s.stats.emptyPagesWithCursor += 1
                return json(200, "{\"data\":[],\"cursor\":\"\(next)\"}")
            }
            let all = s.entries[org] ?? []
            // Entries are kept sorted by time: find the window by binary search, filter only inside it.
            func firstIndex(_ ts: Int64, after: Bool) -> Int {
                var lo = 0, hi = all.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if all[mid].ts < ts || (after && all[mid].ts == ts) { lo = mid + 1 } else { hi = mid }
                }
                return lo
            }
            let inWindow = all[firstIndex(start, after: false)..<firstIndex(end, after: true)]
            let unfiltered = actions == nil && platforms == nil && users == nil && types == nil && objectIds == nil
            let matching = unfiltered ? inWindow.dropFirst(offset).prefix(limit) : inWindow.filter { e in
                guard e.ts >= start && e.ts <= end else { return false }
                if let actions, !actions.contains(e.value["action"]?.stringValue ?? "") { return false }
                if let platforms, !platforms.contains(e.value["platform"]?.stringValue ?? "") { return false }
                if let users, !users.contains(e.value["userId"]?.stringValue ?? e.value["userName"]?.stringValue ?? "") { return false }
                if let types {
                    let t = e.value["objectType"]?.stringValue ?? e.value["objects"]?.arrayValue?.first?["objectType"]?.stringValue ?? ""
                    if !types.contains(t) { return false }
                }
                if let objectIds {
                    let ids = [e.value["objectId"]?.stringValue] + (e.value["objects"]?.arrayValue ?? []).map { $0["objectId"]?.stringValue }
                    if !ids.contains(where: { $0.map(objectIds.contains) ?? false }) { return false }
                }
                return true
            }[...]
            let pageEntries = unfiltered ? Array(matching) : Array(matching.dropFirst(offset).prefix(limit))
            var w = JSONWriter(capacity: pageEntries.count * 400 + 64)
            w.beginObject()
            w.key("data")
            w.beginArray()
            // Member order of the nested shape changes from answer to answer: keys must not depend on it.
            let reverse = s.responses % 2 == 0
            for e in pageEntries {
                if let raw = e.raw {
                    w.raw(json: raw)
                } else if reverse, !e.hasID, case .object(let o) = e.value {
                    JSONValue.object(JSONObject(o.members.reversed())).write(to: &w)
                } else {
                    e.value.write(to: &w)
                }
            }
            w.endArray()
            if let sentCursor, s.settings.repeatCursorAt[org] == pageNumber {
                // A looping control plane: this page names the cursor that asked for it as the next one.
                s.stats.repeatedCursors += 1
                w.field("cursor", sentCursor)
            } else if !pageEntries.isEmpty {
                let next = "c\(s.cursors.count + 1)-\(UInt32.random(in: 0...UInt32.max))"
                s.cursors[next] = (org, start, end, offset + pageEntries.count, pageNumber, 0)
                w.field("cursor", next)
            }
            w.endObject()
            return ServerResponse(status: 200, headers: [HTTPHeader("Content-Type", "application/json")], body: w.bytes)
        }
    }
}

/// The fields of a token request's form body; nil when it is not form-encoded (the doubles answer 415).
public func tokenForm(_ request: ServerRequest) -> [String: String]? {
    guard request.header("Content-Type")?.hasPrefix("application/x-www-form-urlencoded") == true else { return nil }
    var form: [String: String] = [:]
    for pair in String(decoding: request.body, as: UTF8.self).split(separator: "&") {
        let kv = pair.split(separator: "=", maxSplits: 1).map { percentDecode(String($0)) }
        if kv.count == 2 { form[kv[0]] = kv[1] }
    }
    return form
}

/// `application/x-www-form-urlencoded` value decoding (`+` is a space).
public func percentDecode(_ text: String) -> String {
    var out: [UInt8] = []
    let bytes = Array(text.utf8)
    var i = 0
    func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
    while i < bytes.count {
        if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
            out.append(h << 4 | l)
            i += 3
        } else {
            out.append(bytes[i] == UInt8(ascii: "+") ? UInt8(ascii: " ") : bytes[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// A small deterministic generator (tests repeat their "random" choices).
public struct SplitMix: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

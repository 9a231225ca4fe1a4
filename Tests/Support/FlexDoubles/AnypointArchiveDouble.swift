// A strict Anypoint Monitoring archive on loopback (mulesoft-dx apis/anypoint-monitoring-archive): client-credentials
// tokens, the documented walk organizations → environments → entity type → entity → file type → year → month → day
// → file, with the spec's path rules; day listings unordered and files that appear only later (its own clock);
// 429 and 504 on chosen requests or past a per-minute budget. Anything it does not understand is refused and recorded.
import Glibc
import HTTP
import Core

public final class AnypointArchiveDouble: Sendable {
    public struct File: Sendable {
        public var entity: String
        public var name: String
        /// Creation time, as the day listing reports it (and the day folder it sits in).
        public var time: Int64
        public var content: [UInt8]
        /// The double's clock must reach this before the file is listed or served (a file that appears late).
        public var visibleAt: Int64
        public init(entity: String, name: String, time: Int64, content: [UInt8], visibleAt: Int64? = nil) {
            self.entity = entity; self.name = name; self.time = time; self.content = content; self.visibleAt = visibleAt ?? time
        }
    }

    public struct Settings: Sendable {
        public var clientID = "archive-client"
        public var clientSecret = "archive-secret-value"
        public var organization = "org-1"
        public var environment = "env-1"
        /// `flex` for managed gateways (DEMO; not in the spec's enum, which the double also accepts).
        public var entityType = "flex"
        public var tokenLifetimeMs: Int64 = 3_600_000
        /// Archive requests (numbered from 1 over the double's life) answered 429 / 504 instead.
        public var throttle: Set<Int> = []
        public var gatewayTimeouts: Set<Int> = []
        /// More archive requests than this within one minute of wall time are answered 429 (the platform's ~60).
        public var perMinuteLimit = 1_000_000
        /// Changes the (unordered) order of day listings.
        public var seed: UInt64 = 1
        public init() {}
    }

    public struct Stats: Sendable {
        public var tokensIssued = 0
        public var requests = 0
        public var throttled = 0
        public var timeouts = 0
        public var unauthorized = 0
        public var badRequests: [String] = []
        public var dayListings = 0
        /// `entity/name` → how many times it was served.
        public var downloads: [String: Int] = [:]
    }

    private struct State {
        var settings: Settings
        var files: [File] = []
        var clock: Int64
        var tokens: [String: Int64] = [:]
        var stats = Stats()
        var minute: (start: Int64, count: Int) = (0, 0)
    }

    public let server: LoopbackServer
    private let state: Locked<State>
    public var baseURL: String { server.baseURL }
    public var archiveURL: String { server.baseURL + Self.prefix }
    public var stats: Stats { state.value.stats }
    public static let prefix = "/monitoring/archive/api/v1"

    public init(_ settings: Settings = Settings(), clock: Int64) throws {
        let state = Locked(State(settings: settings, clock: clock))
        self.state = state
        server = try LoopbackServer { AnypointArchiveDouble.handle($0, state) }
    }

    deinit { server.stop() }

    public func add(_ files: [File]) { state.withLock { $0.files += files } }
    /// Moves the double's clock (files become visible as it passes their `visibleAt`).
    public func setClock(_ ms: Int64) { state.withLock { $0.clock = ms } }
    public func update(_ body: @Sendable (inout Settings) -> Void) { state.withLock { body(&$0.settings) } }

    // MARK: serving

    static func json(_ status: Int, _ text: String) -> ServerResponse {
        ServerResponse(status: status, headers: [HTTPHeader("Content-Type", "application/json")], text: text)
    }

    private static func bad(_ state: Locked<State>, _ status: Int, _ why: String) -> ServerResponse {
        state.withLock { $0.stats.badRequests.append(why) }
        return json(status, "{\"message\":\"\(why)\"}")
    }

    static func resources(_ ids: [String]) -> ServerResponse {
        var w = JSONWriter()
        w.beginObject(); w.key("resources"); w.beginArray()
        for id in ids { w.beginObject(); w.field("id", id); w.endObject() }
        w.endArray(); w.endObject()
        return ServerResponse(status: 200, headers: [HTTPHeader("Content-Type", "application/json")], body: w.bytes)
    }

    private static func handle(_ request: ServerRequest, _ state: Locked<State>) -> ServerResponse {
        if request.path == "/accounts/api/v2/oauth2/token" {
            guard request.method == "POST" else { return bad(state, 405, "token: \(request.method) not allowed") }
            return token(request, state)
        }
        guard request.method == "GET" else { return bad(state, 405, "\(request.method) \(request.path): only GET is documented") }
        guard !request.target.contains("?") else { return bad(state, 400, "\(request.path): the archive takes no query parameters") }
        guard request.path.hasPrefix(prefix + "/") else { return bad(state, 404, "\(request.path): not an archive path") }
        let now = EpochMillis.now().value
        // Throttling and timeouts come before authentication, as a gateway in front would answer them.
        let refused: ServerResponse? = state.withLock { s in
            s.stats.requests += 1
            let n = s.stats.requests
            if now - s.minute.start >= 60_000 { s.minute = (now, 0) }
            s.minute.count += 1
            if s.settings.throttle.contains(n) || s.minute.count > s.settings.perMinuteLimit {
                s.stats.throttled += 1
                return json(429, "{\"message\":\"Too Many Requests\"}")
            }
            if s.settings.gatewayTimeouts.contains(n) {
                s.stats.timeouts += 1
                return json(504, "{\"message\":\"Gateway Timeout\"}")
            }
            guard let auth = request.header("Authorization"), auth.hasPrefix("Bearer "),
                  let expires = s.tokens[String(auth.dropFirst(7))], expires > now else {
                s.stats.unauthorized += 1
                return json(401, "{\"message\":\"Unauthorized\"}")
            }
            return nil
        }
        if let refused { return refused }
        let parts = request.path.dropFirst(prefix.count + 1).split(separator: "/", omittingEmptySubsequences: false).map {
            percentDecode(String($0))
        }
        guard parts.allSatisfy({ !$0.isEmpty }), parts.first == "organizations" else { return bad(state, 404, "\(request.path): no such resource") }
        return state.withLock { s in walk(parts, &s, request.path) }
    }

    static let entityTypes: Set<String> = ["apis", "applications", "servers", "flex"]
    static let fileTypes: Set<String> = ["raw", "summary", "ip", "path", "logs"]

    /// `organizations[/{org}/environments[/{env}[/{type}[/{entity}[/{fileType}[/{yyyy}[/{MM}[/{dd}[/{file}]]]]]]]]]`.
    private static func walk(_ p: [String], _ s: inout State, _ path: String) -> ServerResponse {
        func badRequest(_ why: String) -> ServerResponse {
            s.stats.badRequests.append("\(path): \(why)")
            return json(400, "{\"message\":\"\(why)\"}")
        }
        let settings = s.settings
        if p.count == 1 { return resources([settings.organization]) }
        guard p.count >= 3, p[2] == "environments" else { return json(404, "{\"message\":\"Not Found\"}") }
        let known = p[1] == settings.organization
        if p.count == 3 { return resources(known ? [settings.environment] : []) }
        let here = known && p[3] == settings.environment
        if p.count == 4 { return resources(here ? [settings.entityType] : []) }
        guard entityTypes.contains(p[4]) else { return badRequest("entityType must be one of apis, applications, servers (or flex)") }
        let visible = here && p[4] == settings.entityType ? s.files.filter { $0.visibleAt <= s.clock } : []
        if p.count == 5 { return resources(Array(Set(visible.map(\.entity))).sorted()) }
        let ofEntity = visible.filter { $0.entity == p[5] }
        if p.count == 6 { return resources(ofEntity.isEmpty ? [] : ["logs"]) }
        guard fileTypes.contains(p[6]) else { return badRequest("fileType must be one of raw, summary, ip, path, logs") }
        let ofType = p[6] == "logs" ? ofEntity : []
        func day(_ f: File) -> (String, String, String) {
            let iso = EpochMillis(f.time).iso8601
            return (String(iso.prefix(4)), String(iso.dropFirst(5).prefix(2)), String(iso.dropFirst(8).prefix(2)))
        }
        if p.count == 7 { return resources(Array(Set(ofType.map { day($0).0 })).sorted()) }
        guard p[7].count == 4, let year = Int(p[7]), (2000...9999).contains(year) else { return badRequest("year must be an integer 2000-9999") }
        let ofYear = ofType.filter { day($0).0 == p[7] }
        if p.count == 8 { return resources(Array(Set(ofYear.map { day($0).1 })).sorted()) }
        guard matches(p[8], first: "01") else { return badRequest("month must match ^[0-1][0-9]$") }
        let ofMonth = ofYear.filter { day($0).1 == p[8] }
        if p.count == 9 { return resources(Array(Set(ofMonth.map { day($0).2 })).sorted()) }
        guard matches(p[9], first: "0123") else { return badRequest("dayOfMonth must match ^[0-3][0-9]$") }
        let ofDay = ofMonth.filter { day($0).2 == p[9] }
        if p.count == 10 {
            s.stats.dayListings += 1
            // Not in any order (as the platform answers): sorted by a hash of the seed and each name.
            func mixed(_ f: File) -> UInt64 {
                var h = FNV1a.offsetBasis &+ s.settings.seed
                FNV1a.hash(f.name.utf8, into: &h)
                return h
            }
            let items = ofDay.sorted { mixed($0) < mixed($1) }
            var w = JSONWriter()
            w.beginObject(); w.key("resources"); w.beginArray()
            for f in items {
                w.beginObject(); w.field("id", f.name); w.field("time", String(EpochMillis(f.time).iso8601.prefix(19)) + "Z")
                w.field("size", f.content.count); w.endObject()
            }
            w.endArray(); w.endObject()
            return ServerResponse(status: 200, headers: [HTTPHeader("Content-Type", "application/json")], body: w.bytes)
        }
        guard p.count == 11, let file = ofDay.first(where: { $0.name == p[10] }) else { return json(404, "{\"message\":\"Not Found\"}") }
        s.stats.downloads["\(file.entity)/\(file.name)", default: 0] += 1
        return ServerResponse(status: 200, headers: [HTTPHeader("Content-Type", "text/plain")], body: file.content)
    }

    static func matches(_ text: String, first: String) -> Bool {
        let b = Array(text.utf8)
        return b.count == 2 && first.utf8.contains(b[0]) && b[1] >= 0x30 && b[1] <= 0x39
    }

    private static func token(_ request: ServerRequest, _ state: Locked<State>) -> ServerResponse {
        // The token endpoint takes JSON or a form (DX-AM).
        var fields: [String: String] = [:]
        let type = request.header("Content-Type") ?? ""
        if type.hasPrefix("application/x-www-form-urlencoded") {
            for pair in String(decoding: request.body, as: UTF8.self).split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { percentDecode(String($0)) }
                if kv.count == 2 { fields[kv[0]] = kv[1] }
            }
        } else if type.hasPrefix("application/json"), let object = (try? JSONReader.parse(request.body))?.objectValue {
            for (k, v) in object.members { if let text = v.stringValue { fields[k] = text } }
        } else {
            return bad(state, 415, "token: a form or JSON body expected")
        }
        return state.withLock { s in
            guard fields["grant_type"] == "client_credentials", fields["client_id"] == s.settings.clientID,
                  fields["client_secret"] == s.settings.clientSecret else {
                s.stats.badRequests.append("token: bad credentials")
                return json(401, "{\"error\":\"invalid_client\"}")
            }
            s.stats.tokensIssued += 1
            let token = "arch-\(s.stats.tokensIssued)-\(UInt32.random(in: 0...UInt32.max))"
            s.tokens[token] = EpochMillis.now().value + s.settings.tokenLifetimeMs
            return json(200, "{\"access_token\":\"\(token)\",\"token_type\":\"bearer\",\"expires_in\":\(s.settings.tokenLifetimeMs / 1000)}")
        }
    }

    static func percentDecode(_ text: String) -> String {
        var out: [UInt8] = []
        let b = Array(text.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                out.append(v); i += 3
            } else {
                out.append(b[i] == UInt8(ascii: "+") ? 0x20 : b[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

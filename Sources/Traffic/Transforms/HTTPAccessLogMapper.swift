// The HTTP API access-log mapper: one JSON access-log record becomes one (header- and body-less) transaction.
import AWS
import Core

/// HTTP APIs log no headers or bodies, so the transaction says what is known (method, path, status, client, times)
/// and, as the reference integration does, carries the request header `cq-discovery-only: true` and the request body
/// `{"cq-endpoints-only":"true"}`, telling the consumer to use it for endpoint discovery only.
public struct HTTPAccessLogMapper: Sendable {
    public let logGroup: LogGroupName
    public let region: AWSRegion
    public let accountId: AWSAccountID?
    public let apiId: String?
    public let stage: String?
    public private(set) var counters = TrafficCounters()

    public static let endpointsOnlyBody = #"{"cq-endpoints-only":"true"}"#

    /// `apiId` and `stage` come from discovery; a record's own `apiId`/`stage`/`accountId` fields win when present.
    public init(logGroup: LogGroupName, region: AWSRegion, accountId: AWSAccountID?, apiId: String?, stage: String?) {
        self.logGroup = logGroup
        self.region = region
        self.accountId = accountId
        self.apiId = apiId
        self.stage = stage
    }

    public mutating func takeCounters() -> TrafficCounters {
        defer { counters = TrafficCounters() }
        return counters
    }

    /// Maps one record. Returns nil (and counts a failed line) when it is not a JSON object with a request id.
    public mutating func map(logStream: LogStreamName, timestamp: EpochMillis, message: UnsafeRawBufferPointer) -> Transaction? {
        guard let document = try? JSONReader.parse(message), let record = document.objectValue else {
            counters.linesFailed += 1
            return nil
        }
        func field(_ name: String) -> String? {
            switch record[name] {
            case .string(let s)?: return s == "-" || s.isEmpty ? nil : s
            case .int(let i)?: return String(i)
            case .double(let d)?: return String(d)
            case .bool(let b)?: return b ? "true" : "false"
            default: return nil
            }
        }
        func intField(_ name: String) -> Int? { field(name).flatMap { Int($0) } }

        guard let requestIdText = field("requestId") else {
            counters.linesFailed += 1
            return nil
        }
        counters.linesParsed += 1
        let requestId = RequestID(requestIdText)
        let apiId = field("apiId") ?? self.apiId
        let stage = field("stage") ?? self.stage
        let accountId = field("accountId").map(AWSAccountID.init) ?? self.accountId

        var request = TransactionRequest()
        request.method = field("httpMethod")
        request.path = field("path") ?? field("routeKey").flatMap(Self.pathOfRouteKey)
        if let path = request.path, let q = path.firstIndex(of: "?") {
            // `$context.path` has no query, but a custom format might log the raw URL.
            request.query = Self.queryPairs(String(path[path.index(after: q)...]))
            request.path = String(path[..<q])
        }
        request.httpVersion = field("protocol")
        request.clientIp = field("ip") ?? field("sourceIp")
        request.connectionIp = request.clientIp
        request.host = field("domainName") ?? apiId.map { "\($0).execute-api.\(region.rawValue).amazonaws.com" }
        if let userAgent = field("userAgent") { request.headers.append(NameValuePair("User-Agent", userAgent)) }
        request.headers.append(NameValuePair("cq-discovery-only", "true"))
        request.body = MessageBody(Self.endpointsOnlyBody)

        var response = TransactionResponse()
        response.status = intField("status")
        response.contentLength = intField("responseLength")

        let responseLatency = intField("responseLatency")
        let start = field("requestTimeEpoch").flatMap { Int64($0) }.map(EpochMillis.init)
            ?? field("requestTime").flatMap(Self.parseCommonLogTime)
            ?? timestamp
        let end = responseLatency.map { start.adding(milliseconds: Int64($0)) } ?? max(start, timestamp)

        let extended = field("extendedRequestId")
        let id = extended ?? Transaction.fallbackId(logGroup: logGroup, logStream: logStream, requestId: requestId)
        let source = TransactionSource(type: .httpAccessLog, region: region, accountId: accountId, apiId: apiId, stage: stage,
                                       logGroup: logGroup, logStream: logStream)
        counters.transactionsEmitted += 1
        return Transaction(id: id, source: source, requestId: requestId, extendedRequestId: extended,
                           startTime: start, endTime: end, request: request, response: response, incomplete: false,
                           integrationLatencyMs: intField("integrationLatency"), responseLatencyMs: responseLatency,
                           integrationRequestId: field("integrationRequestId"), xrayTraceId: field("xrayTraceId"),
                           error: field("errorMessage") ?? field("integrationErrorMessage"), truncatedLines: 0)
    }

    public mutating func map(logStream: LogStreamName, timestamp: EpochMillis, message: String) -> Transaction? {
        var message = message
        return message.withUTF8 { map(logStream: logStream, timestamp: timestamp, message: UnsafeRawBufferPointer($0)) }
    }

    /// `GET /pets/{id}` gives `/pets/{id}` (a route template: the best an access log without `$context.path` offers).
    static func pathOfRouteKey(_ routeKey: String) -> String? {
        guard let space = routeKey.firstIndex(of: " ") else { return nil }
        let path = routeKey[routeKey.index(after: space)...]
        return path.hasPrefix("/") ? String(path) : nil
    }

    static func queryPairs(_ query: String) -> [NameValuePair] {
        query.split(separator: "&").map { item in
            if let eq = item.firstIndex(of: "=") {
                return NameValuePair(String(item[..<eq]), String(item[item.index(after: eq)...]))
            }
            return NameValuePair(String(item), "")
        }
    }

    /// `$context.requestTime`: `26/Feb/2019:15:29:33 +0000` (CLF). Second precision.
    static func parseCommonLogTime(_ text: String) -> EpochMillis? {
        let b = Array(text.utf8)
        guard b.count >= 26, b[2] == UInt8(ascii: "/"), b[6] == UInt8(ascii: "/"), b[11] == UInt8(ascii: ":"),
              b[20] == 0x20 else { return nil }
        func num(_ from: Int, _ len: Int) -> Int? {
            var v = 0
            for i in from..<(from + len) {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let monthText = String(decoding: b[3..<6], as: UTF8.self)
        guard let day = num(0, 2), let monthIndex = months.firstIndex(of: monthText), let year = num(7, 4),
              let hour = num(12, 2), let minute = num(15, 2), let second = num(18, 2),
              b[21] == UInt8(ascii: "+") || b[21] == UInt8(ascii: "-"), let oh = num(22, 2), let om = num(24, 2) else { return nil }
        let days = daysFromCivil(year: year, month: monthIndex + 1, day: day)
        let offset = (oh * 60 + om) * 60 * (b[21] == UInt8(ascii: "+") ? 1 : -1)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offset)
        return EpochMillis(seconds * 1000)
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

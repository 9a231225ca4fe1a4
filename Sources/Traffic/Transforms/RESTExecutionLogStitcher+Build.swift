// Turns a finished PendingRequest into a Transaction: map parsing, host and client IP, header merge, truncation markers.
import Core

extension RESTExecutionLogStitcher {
    static var discoveryOnlyHeader: NameValuePair { NameValuePair("cq-discovery-only", "true") }

    func build(_ p: PendingRequest, incomplete: Bool, streamName: LogStreamName) -> Transaction {
        var request = TransactionRequest()
        // `HTTP Method: X, Resource Path: /p` is what the request was; other lines stand in only when it was never
        // logged (the gateway ended the request first): an authorizer's event names the request's own path, the
        // usage-plan check and a throttle's resource (through discovery) name the method resource's path template.
        request.method = (p.method ?? p.hintMethod).map(Self.text)
        request.path = p.resourcePath.map(Self.text)
        if request.path == nil, p.method == nil, p.hintPathSource == .authorizerEvent { request.path = p.hintPath.map(Self.text) }
        if let resource = p.resource.map(Self.text) {
            // Throttling lines name the resource by id (`k0w8mc`) or, on some stages, by path.
            if resource.hasPrefix("/") {
                if request.path == nil { request.path = resource }
            } else {
                request.resourceId = resource
                if request.path == nil { request.path = options.resourcePaths[resource] }
            }
        }
        if request.path == nil, p.method == nil { request.path = p.hintPath.map(Self.text) }
        if let q = p.query { request.query = ExecutionLogMap.pairs(q, truncated: p.truncated.contains(.query)) }
        if let h = p.requestHeaders {
            request.headers = ExecutionLogMap.pairs(h, truncated: p.truncated.contains(.requestHeaders))
            request.headersTruncated = p.truncated.contains(.requestHeaders)
        }
        let hostHeader = Self.reliableValue("host", in: request.headers, truncated: request.headersTruncated)
        request.host = hostHeader ?? fallbackHost
        if !options.customDomains.isEmpty {
            request.customDomains = options.customDomains.map { $0.basePath.isEmpty ? $0.domainName : "\($0.domainName)/\($0.basePath)" }
            if let hostHeader {
                // The client named the host: a mapped domain adds its base path; the execute-api host needs none.
                if let m = options.customDomains.first(where: { asciiCaseInsensitiveEquals($0.domainName, hostHeader) }) {
                    request.basePath = m.basePath
                }
            } else {
                // No reliable Host header: the stage is reached through its custom domain(s), the first by name.
                request.host = options.customDomains[0].domainName
                request.basePath = options.customDomains[0].basePath
            }
        }
        if let forwarded = Self.headerIndex("x-forwarded-for", in: request.headers) {
            let value = request.headers[forwarded].value
            let firstHop = Self.firstHop(value)
            // A cut line may have cut the first hop itself; then there is no trustworthy address.
            let cutInFirstHop = request.headersTruncated && forwarded == request.headers.count - 1 && !value.contains(",")
            if let firstHop, !firstHop.isEmpty, !cutInFirstHop { request.clientIp = firstHop }
            // The last hop is the address that connected to API Gateway; when the map was cut inside this header,
            // the last hop may be partial.
            let cutInHeader = request.headersTruncated && forwarded == request.headers.count - 1
            if !cutInHeader, let lastHop = Self.lastHop(value), !lastHop.isEmpty { request.connectionIp = lastHop }
        }

        var response = TransactionResponse()
        response.status = p.status
        if let h = p.responseHeaders {
            response.headers = ExecutionLogMap.pairs(h, truncated: p.truncated.contains(.responseHeaders))
        }
        if let h = p.endpointResponseHeaders, p.failure == nil {
            // Method response headers are what the client got; endpoint headers fill in the ones it does not list.
            // After a failure (502 from a Lambda error, ...) the client got API Gateway's error answer, not the
            // integration's headers, so they are left out.
            let endpoint = ExecutionLogMap.pairs(h, truncated: p.truncated.contains(.endpointResponseHeaders))
            for pair in endpoint where Self.headerIndex(pair.name, in: response.headers) == nil { response.headers.append(pair) }
        }
        response.headersTruncated = p.truncated.contains(.responseHeaders)
            || (p.failure == nil && p.truncated.contains(.endpointResponseHeaders))

        if let body = p.requestBody {
            if p.truncated.contains(.requestBody) {
                request.body = Self.marker(for: body, contentType: request.header("content-type"))
                request.bodyTruncated = true
            } else {
                request.body = MessageBody(body)
            }
        }
        if let body = p.responseBody {
            if p.truncated.contains(.responseBody) {
                response.body = Self.marker(for: body, contentType: response.header("content-type"))
                response.bodyTruncated = true
            } else {
                response.body = MessageBody(body)
            }
        }
        if request.bodyTruncated || response.bodyTruncated, Self.headerIndex("cq-discovery-only", in: request.headers) == nil {
            request.headers.append(Self.discoveryOnlyHeader)
        }

        let requestId = RequestID(p.requestId)
        let extended = p.extendedRequestId.map(Self.text)
        let id = extended.flatMap { $0.isEmpty ? nil : $0 }
            ?? Transaction.fallbackId(logGroup: logGroup, logStream: streamName, requestId: requestId)
        let source = TransactionSource(type: .restExecutionLog, region: region, accountId: accountId, apiId: apiId, stage: stage,
                                       logGroup: logGroup, logStream: streamName)
        return Transaction(
            id: id, source: source, requestId: requestId, extendedRequestId: extended,
            startTime: EpochMillis(p.firstTimestamp), endTime: EpochMillis(p.endTimestamp ?? p.lastTimestamp),
            request: request, response: response, incomplete: incomplete,
            integrationLatencyMs: p.integrationLatencyMs, responseLatencyMs: nil,
            integrationRequestId: p.integrationRequestId.map(Self.text), xrayTraceId: p.xrayTraceId.map(Self.text),
            error: p.failure.map(Self.text), truncatedLines: p.truncatedLines)
    }

    /// The first entry of a comma-separated list, without surrounding spaces (X-Forwarded-For: client, proxy, ...).
    static func firstHop(_ list: String) -> String? {
        let utf8 = list.utf8
        var start = utf8.startIndex
        while start < utf8.endIndex, utf8[start] == 0x20 { start = utf8.index(after: start) }
        var end = utf8[start...].firstIndex(of: UInt8(ascii: ",")) ?? utf8.endIndex
        while end > start, utf8[utf8.index(before: end)] == 0x20 { end = utf8.index(before: end) }
        guard start < end else { return nil }
        return String(list[start..<end])
    }

    /// The last entry of a comma-separated list, without surrounding spaces.
    static func lastHop(_ list: String) -> String? {
        guard let comma = list.lastIndex(of: ",") else { return firstHop(list) }
        return firstHop(String(list[list.index(after: comma)...]))
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    static func marker(for body: [UInt8], contentType: String?) -> MessageBody {
        let kind = body.withUnsafeBytes { TruncationMarker.kind(contentType: contentType, truncatedBody: $0) }
        return MessageBody(TruncationMarker.marker(for: kind))
    }

    static func headerIndex(_ name: String, in headers: [NameValuePair]) -> Int? {
        headers.firstIndex { asciiCaseInsensitiveEquals($0.name, name) }
    }

    /// A header value, unless it is the last entry of a cut map (then it may be partial).
    static func reliableValue(_ name: String, in headers: [NameValuePair], truncated: Bool) -> String? {
        guard let i = headerIndex(name, in: headers) else { return nil }
        if truncated, i == headers.count - 1 { return nil }
        let value = headers[i].value
        return value.isEmpty ? nil : value
    }
}

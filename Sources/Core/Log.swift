// Structured logs on stderr: plain text or JSON (AWS_LAMBDA_LOG_FORMAT), filtered by level.
import Glibc

public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case trace, debug, info, warn, error, fatal

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var name: String { ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"][rawValue] }

    /// Lambda's level names (its `ApplicationLogLevel`), any case: the same set the template and the deploy `.env` take.
    public init?(name: String) {
        guard let level = Self.allCases.first(where: { $0.name == name.uppercased() }) else { return nil }
        self = level
    }
}

public enum LogFormat: Sendable {
    case text, json
    public init?(name: String) {
        switch name.lowercased() {
        case "text": self = .text
        case "json": self = .json
        default: return nil
        }
    }
}

/// A value in a log line's fields.
public enum LogValue: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, CustomStringConvertible
{
    case string(String), int(Int64), double(Double), bool(Bool)
    /// Already-serialised JSON (a run summary, for instance); shown verbatim in both formats.
    case json([UInt8])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(Int64(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public static func of<I: BinaryInteger>(_ v: I) -> LogValue { .int(Int64(v)) }

    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return String(b)
        case .json(let bytes): return String(decoding: bytes, as: UTF8.self)
        }
    }
}

public struct Logger: Sendable {
    public var level: LogLevel
    public var format: LogFormat
    /// Attached to every line (for example `requestId`).
    public var metadata: [(String, String)]
    private let sink: @Sendable ([UInt8]) -> Void

    public init(level: LogLevel = .info, format: LogFormat = .text, metadata: [(String, String)] = [],
                sink: @escaping @Sendable ([UInt8]) -> Void = Logger.stderr) {
        self.level = level
        self.format = format
        self.metadata = metadata
        self.sink = sink
    }

    /// Level from `AWS_LAMBDA_LOG_LEVEL`, else `LOG_LEVEL`, else INFO; format from `AWS_LAMBDA_LOG_FORMAT`.
    public static func fromEnvironment(_ env: [String: String]) -> Logger {
        let level = (env["AWS_LAMBDA_LOG_LEVEL"].flatMap(LogLevel.init(name:)))
            ?? (env["LOG_LEVEL"].flatMap(LogLevel.init(name:))) ?? .info
        let format = env["AWS_LAMBDA_LOG_FORMAT"].flatMap(LogFormat.init(name:)) ?? .text
        return Logger(level: level, format: format)
    }

    public static let stderr: @Sendable ([UInt8]) -> Void = { bytes in
        bytes.withUnsafeBytes { buf in
            var offset = 0
            while offset < buf.count {
                let n = Glibc.write(2, buf.baseAddress! + offset, buf.count - offset)
                if n <= 0 { if errno == EINTR { continue }; return }
                offset += n
            }
        }
    }

    public func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy.metadata.removeAll { $0.0 == key }
        copy.metadata.append((key, value))
        return copy
    }

    public func isEnabled(_ l: LogLevel) -> Bool { l >= level }

    public func trace(_ message: @autoclosure () -> String, _ fields: [(String, LogValue)] = []) { log(.trace, message(), fields) }
    public func debug(_ message: @autoclosure () -> String, _ fields: [(String, LogValue)] = []) { log(.debug, message(), fields) }
    public func info(_ message: @autoclosure () -> String, _ fields: [(String, LogValue)] = []) { log(.info, message(), fields) }
    public func warn(_ message: @autoclosure () -> String, _ fields: [(String, LogValue)] = []) { log(.warn, message(), fields) }
    public func error(_ message: @autoclosure () -> String, _ fields: [(String, LogValue)] = []) { log(.error, message(), fields) }
    public func fatal(_ message: @autoclosure () -> String, _ fields: [(String, LogValue)] = []) { log(.fatal, message(), fields) }

    public func log(_ l: LogLevel, _ message: @autoclosure () -> String, _ fields: [(String, LogValue)] = []) {
        guard l >= level else { return }
        sink(SecretRedactor.shared.redact(render(l, message(), fields, now: .now())))
    }

    func render(_ l: LogLevel, _ message: String, _ fields: [(String, LogValue)], now: EpochMillis) -> [UInt8] {
        switch format {
        case .json:
            var w = JSONWriter()
            w.beginObject()
            w.field("timestamp", now.iso8601)
            w.field("level", l.name)
            w.field("message", message)
            for (k, v) in metadata { w.field(k, v) }
            for (k, v) in fields {
                w.key(k)
                switch v {
                case .string(let s): w.string(s)
                case .int(let i): w.int(i)
                case .double(let d): w.double(d)
                case .bool(let b): w.bool(b)
                case .json(let raw): w.raw(json: raw)
                }
            }
            w.endObject()
            var bytes = w.bytes
            bytes.append(0x0A)
            return bytes
        case .text:
            var line = now.iso8601 + " " + l.name
            for (_, v) in metadata { line += " " + v }
            line += " " + message
            for (k, v) in fields {
                let rendered = v.description
                let needsQuotes = rendered.isEmpty || rendered.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" })
                if case .json = v { line += " \(k)=\(rendered)" }
                else if needsQuotes { line += " \(k)=\"\(rendered.replacingQuotes())\"" }
                else { line += " \(k)=\(rendered)" }
            }
            line = String(line.map { $0 == "\n" ? " " : $0 })
            line += "\n"
            return Array(line.utf8)
        }
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var out = ""
        for c in self { if c == "\"" { out += "\\\"" } else { out.append(c) } }
        return out
    }
}

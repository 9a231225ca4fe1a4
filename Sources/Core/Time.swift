// Wall-clock time in epoch milliseconds, deadlines, and the two date formats apitap reads and writes.
import Glibc

/// Milliseconds since the Unix epoch (CloudWatch timestamps, Lambda deadlines, transaction times).
public struct EpochMillis: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var value: Int64
    public init(_ value: Int64) { self.value = value }
    public static func < (a: Self, b: Self) -> Bool { a.value < b.value }
    public var description: String { String(value) }

    public static func now() -> EpochMillis {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return EpochMillis(Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }

    public func adding(milliseconds: Int64) -> EpochMillis { EpochMillis(value + milliseconds) }

    /// `2026-11-22T03:16:23.123Z`
    public var iso8601: String {
        var t = time_t(value >= 0 ? value / 1000 : (value - 999) / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        let ms = Int(((value % 1000) + 1000) % 1000)
        return pad(Int(parts.tm_year) + 1900, 4) + "-" + pad(Int(parts.tm_mon) + 1, 2) + "-" + pad(Int(parts.tm_mday), 2)
            + "T" + pad(Int(parts.tm_hour), 2) + ":" + pad(Int(parts.tm_min), 2) + ":" + pad(Int(parts.tm_sec), 2)
            + "." + pad(ms, 3) + "Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` or a date alone (`YYYY-MM-DD`, midnight UTC).
    public static func parseISO8601(_ text: String) -> EpochMillis? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= b.count else { return nil }
            var v = 0
            for i in from..<(from + len) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let y = num(0, 4), b.count >= 10, b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var h = 0, mi = 0, s = 0, ms = 0, offset = 0
        if b.count > 10 {
            guard b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "), let hh = num(11, 2), b.count > 13, b[13] == 58,
                  let mm = num(14, 2) else { return nil }
            h = hh; mi = mm
            var i = 16
            if i < b.count, b[i] == 58 { guard let ss = num(17, 2) else { return nil }; s = ss; i = 19 }
            if i < b.count, b[i] == 46 {
                i += 1
                var digits = 0
                while i < b.count, b[i] >= 48, b[i] <= 57 {
                    if digits < 3 { ms = ms * 10 + Int(b[i] - 48); digits += 1 }
                    i += 1
                }
                while digits < 3 { ms *= 10; digits += 1 }
            }
            if i < b.count {
                if b[i] == UInt8(ascii: "Z") { i += 1 }
                else if b[i] == 43 || b[i] == 45 {
                    // A local time at +HH:MM is that much ahead of UTC: subtract the offset.
                    let sign: Int = b[i] == 43 ? -1 : 1
                    guard let oh = num(i + 1, 2) else { return nil }
                    var om = 0
                    if i + 3 < b.count, b[i + 3] == 58 { guard let m = num(i + 4, 2) else { return nil }; om = m; i += 6 }
                    else if let m = num(i + 3, 2) { om = m; i += 5 }
                    else { i += 3 }
                    offset = sign * (oh * 60 + om) * 60_000
                }
                guard i == b.count else { return nil }
            }
            guard h < 24, mi < 60, s < 61 else { return nil }
        }
        let days = daysFromCivil(y, mo, d)
        let secs = Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + s)
        return EpochMillis(secs * 1000 + Int64(ms) + Int64(offset))
    }

    /// Parses an RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as `Retry-After` may carry.
    public static func parseHTTPDate(_ text: String) -> EpochMillis? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let d = Int(parts[1]), let y = Int(parts[3]) else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let mo = months.firstIndex(of: String(parts[2])) else { return nil }
        let hms = parts[4].split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3 else { return nil }
        let secs = Int64(daysFromCivil(y, mo + 1, d)) * 86_400 + Int64(hms[0] * 3600 + hms[1] * 60 + hms[2])
        return EpochMillis(secs * 1000)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

private func pad(_ v: Int, _ width: Int) -> String {
    let s = String(v)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

/// The moment an invocation must be finished by (Lambda's `Lambda-Runtime-Deadline-Ms`).
public struct Deadline: Sendable, Comparable {
    public let epoch: EpochMillis
    public init(epoch: EpochMillis) { self.epoch = epoch }
    public static func < (a: Self, b: Self) -> Bool { a.epoch < b.epoch }

    /// A deadline far enough away to mean "none" (command-line runs).
    public static let distant = Deadline(epoch: EpochMillis(Int64.max / 4))

    public static func after(milliseconds: Int64) -> Deadline { Deadline(epoch: EpochMillis.now().adding(milliseconds: milliseconds)) }

    /// Milliseconds left; negative once past.
    public func remainingMilliseconds(now: EpochMillis = .now()) -> Int64 { epoch.value - now.value }
    public func remaining(now: EpochMillis = .now()) -> Duration { .milliseconds(remainingMilliseconds(now: now)) }
    public func hasPassed(now: EpochMillis = .now()) -> Bool { remainingMilliseconds(now: now) <= 0 }

    /// This deadline, `milliseconds` earlier: the time kept back for what must still happen after the work (answering
    /// the Runtime API, delivering, committing).
    public func reserving(milliseconds: Int64) -> Deadline { Deadline(epoch: epoch.adding(milliseconds: -max(0, milliseconds))) }

    /// The same, keeping back at most `fraction` of the time left (a short invocation still gets most of its time).
    public func reserving(milliseconds: Int64, atMost fraction: Double, now: EpochMillis = .now()) -> Deadline {
        let cap = Int64(Double(max(0, remainingMilliseconds(now: now))) * fraction)
        return reserving(milliseconds: min(milliseconds, cap))
    }
}

extension Duration {
    /// Whole milliseconds (truncated).
    public var milliseconds: Int64 {
        let (s, a) = components
        return s * 1000 + a / 1_000_000_000_000_000
    }
}

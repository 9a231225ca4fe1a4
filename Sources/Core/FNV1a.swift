// A stable, unseeded hash for checkpoint versions and derived ids.

/// Stable 64-bit FNV-1a: the same bytes give the same value in every process (unlike `Hasher`, which is seeded).
/// For checkpoint versions and transaction ids; not for anything an attacker may want to collide.
public enum FNV1a {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    public static func hash<S: Sequence>(_ bytes: S, into state: inout UInt64) where S.Element == UInt8 {
        for byte in bytes { state = (state ^ UInt64(byte)) &* prime }
    }

    public static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var state = offsetBasis
        hash(bytes, into: &state)
        return hex(state)
    }

    /// Hashes the parts with a 0xFF separator (never valid in UTF-8), so ("ab","c") and ("a","bc") differ.
    public static func hex(_ parts: [String]) -> String {
        var state = offsetBasis
        for (i, part) in parts.enumerated() {
            if i > 0 { state = (state ^ 0xFF) &* prime }
            hash(part.utf8, into: &state)
        }
        return hex(state)
    }

    public static func hex(_ state: UInt64) -> String {
        let digits = String(state, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

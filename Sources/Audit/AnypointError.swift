// What can go wrong talking to the Anypoint control plane, by kind (the exporter treats the deadline apart).

public struct AnypointError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case token, request, decode, deadline }
    public let kind: Kind
    public let message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { "Anypoint \(kind.rawValue): \(message)" }
}

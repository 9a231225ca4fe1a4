// A log group's checkpoint: the windowed-source part (watermark, overlap ids, a window cut short) and the requests
// still waiting for their end (the stitcher's exported state).
import Core
import Pipeline

public struct TickCheckpoint: Sendable, Equatable {
    public typealias InProgress = WindowCheckpoint.InProgress

    public var window: WindowCheckpoint
    /// The stitcher's requests still waiting for their end marker (its exported state, verbatim).
    public var stitcherState: [UInt8]?

    /// Every event with a timestamp at or before this was read and delivered (or is in `stitcherState`).
    public var watermark: EpochMillis { window.watermark }
    /// FNV-1a 64 of the eventIds read inside the overlap before the watermark (8 bytes an event instead of 56).
    public var seen: Set<UInt64> { window.seen }
    /// A window the deadline cut short: continued with FilterLogEvents' own token (valid 24 h).
    public var inProgress: InProgress? { window.inProgress }

    public init(watermark: EpochMillis, seen: Set<UInt64> = [], inProgress: InProgress? = nil, stitcherState: [UInt8]? = nil) {
        window = WindowCheckpoint(watermark: watermark, seen: seen, inProgress: inProgress)
        self.stitcherState = stitcherState
    }

    /// The document as the tick has always written it (`logGroup`, `nextToken`, `stitcher`).
    public static let format = WindowCheckpointFormat(ownerKey: "logGroup", positionKey: "nextToken")

    public static func eventHash(_ eventId: String) -> UInt64 { WindowCheckpoint.hash(eventId) }

    public func encoded(logGroup: LogGroupName) -> [UInt8] {
        Self.format.encode(window, owner: logGroup.rawValue, extraCapacity: stitcherState?.count ?? 0) {
            Self.writeStitcherState(stitcherState, to: &$0)
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(CheckpointFormatError) -> TickCheckpoint {
        let (window, document) = try format.decode(bytes)
        var checkpoint = TickCheckpoint(watermark: window.watermark)
        checkpoint.window = window
        checkpoint.stitcherState = stitcherState(in: document)
        return checkpoint
    }

    /// The `stitcher` member: the exported state, or null.
    static func writeStitcherState(_ state: [UInt8]?, to w: inout JSONWriter) {
        w.key("stitcher")
        if let state, !state.isEmpty { w.raw(json: state) } else { w.null() }
    }

    static func stitcherState(in document: JSONValue) -> [UInt8]? {
        guard let stitcher = document["stitcher"], !stitcher.isNull else { return nil }
        return stitcher.jsonBytes
    }
}

// FLEX_SOURCE=anypoint-archive: Message Logging lines from the Anypoint Monitoring archive, one window of file times
// per run and environment, on the windowed-source mechanism (a file is a page, committed once delivered).
import AWS
import Core
import Pipeline

/// Reads one environment's archive: every entity's (replica's) files whose `time` falls in the window, in (time,
/// entity, name) order, one file a page. The listing is read once per run; days are listed from an hour before the
/// window (a file created just after midnight may sit in the previous day's folder) to its end.
actor FlexArchiveReader: WindowReader {
    let client: AnypointArchiveClient
    let archive: FlexConfiguration.Archive
    let environment: String
    private var listing: (start: EpochMillis, end: EpochMillis, files: [ArchiveFile])?

    init(client: AnypointArchiveClient, archive: FlexConfiguration.Archive, environment: String) {
        self.client = client
        self.archive = archive
        self.environment = environment
    }

    func read(start: EpochMillis, end: EpochMillis, position: String?, deadline: Deadline) async throws -> WindowPage<ArchiveFile> {
        let files: [ArchiveFile]
        if let listing, listing.start == start, listing.end == end {
            files = listing.files
        } else {
            do { files = try await list(start: start, end: end, deadline: deadline) } catch {
                if error.kind == .deadline { throw WindowReadStop.deadline }
                throw error
            }
            listing = (start, end, files)
        }
        let next = position.map { p in files.firstIndex { $0.position > p } ?? files.count } ?? 0
        guard next < files.count else { return WindowPage(records: [], next: nil) }
        let file = files[next]
        return WindowPage(records: [file], next: next + 1 < files.count ? file.position : nil)
    }

    nonisolated func identity(of file: ArchiveFile) -> (hash: UInt64, time: EpochMillis?) {
        // The size is part of the identity: a file listed again with more bytes is read again (its requests already
        // sent come again with the same ids, and the stitcher absorbs those it still remembers).
        (WindowCheckpoint.hash("\(file.entity)/\(file.name)/\(file.size)"), file.time)
    }

    private func list(start: EpochMillis, end: EpochMillis, deadline: Deadline) async throws(ArchiveError) -> [ArchiveFile] {
        let entities = try await client.entities(organization: archive.organizationID, environment: environment,
                                                 entityType: archive.entityType, deadline: deadline)
        var files: [ArchiveFile] = []
        for entity in entities.sorted() {
            for day in Self.days(from: start.adding(milliseconds: -3_600_000), to: end) {
                // The listing is not ordered (DEMO): sorted below.
                for f in try await client.files(organization: archive.organizationID, environment: environment, entityType: archive.entityType,
                                                entity: entity, fileType: archive.fileType, day: day, deadline: deadline)
                where f.time >= start && f.time <= end {
                    files.append(f)
                }
            }
        }
        return files.sorted { $0.position < $1.position }
    }

    /// `yyyy/MM/dd` of every UTC day that `[from, to]` touches.
    static func days(from: EpochMillis, to: EpochMillis) -> [String] {
        let day: Int64 = 86_400_000
        var out: [String] = []
        var d = from.value - ((from.value % day) + day) % day
        while d <= to.value, out.count < 400 {
            let iso = EpochMillis(d).iso8601
            out.append("\(iso.prefix(4))/\(iso.dropFirst(5).prefix(2))/\(iso.dropFirst(8).prefix(2))")
            d += day
        }
        return out
    }
}

/// The archive's side of a window: fetch each fresh file, stitch its lines (the entity is the stream), deliver the
/// batches as they fill, and carry open requests in the checkpoint.
struct FlexArchiveConsumer: WindowConsumer {
    let client: AnypointArchiveClient
    let archive: FlexConfiguration.Archive
    let environment: String
    let settings: TickSettings
    let sink: any BatchSink
    let deadline: Deadline
    let now: EpochMillis
    let logger: Logger
    var flex: FlexStitcher
    var batcher: TransactionBatcher
    var counters = FlexCounters()
    var delivery = DeliveryReport()
    var entities = Set<String>()
    var processMs: Int64 = 0
    var missingFiles = 0

    init(client: AnypointArchiveClient, archive: FlexConfiguration.Archive, environment: String, source: LogGroupName,
         settings: TickSettings, filter: TransactionFilter, sink: any BatchSink, deadline: Deadline, now: EpochMillis, logger: Logger) {
        self.client = client
        self.archive = archive
        self.environment = environment
        self.settings = settings
        self.sink = sink
        self.deadline = deadline
        self.now = now
        self.logger = logger
        flex = FlexStitcher(logGroup: source, region: settings.region, accountId: settings.accountId, options: settings.flex)
        batcher = TransactionBatcher(encoding: settings.encoding, filter: filter, maxBytes: settings.maxBatchBytes,
                                     maxRecords: settings.maxBatchTransactions)
    }

    mutating func restore(from document: JSONValue, window: PlannedWindow) throws {
        guard let state = TickCheckpoint.stitcherState(in: document) else { return }
        do { try flex.restoreState(state) } catch {
            logger.warn("the carried-over requests could not be restored; they will be emitted incomplete if seen again",
                        [("error", .string(String(describing: error)))])
        }
    }

    mutating func consume(_ files: [ArchiveFile], window: PlannedWindow) async -> Acknowledgement {
        let fetchDeadline = deadline.reserving(milliseconds: settings.pullMarginMs)
        for file in files {
            let bytes: [UInt8]?
            do {
                bytes = try await client.content(organization: archive.organizationID, environment: environment, entityType: archive.entityType,
                                                 fileType: archive.fileType, file: file, deadline: fetchDeadline)
            } catch {
                if error.kind == .deadline { return .deferred }
                return .failed("fetching \(file.entity)/\(file.name): \(error)")
            }
            guard let bytes else {
                // Listed, then gone: nothing to read (counted; the window goes on).
                missingFiles += 1
                continue
            }
            entities.insert(file.entity)
            let started = EpochMillis.now()
            ingest(bytes, file: file)
            processMs += EpochMillis.now().value - started.value
            let ack = await sink.send(batcher.take(), deadline: deadline, into: &delivery)
            guard ack == .acknowledged else { return ack }
        }
        return .acknowledged
    }

    /// Each line is one record; its time is its own date when it starts with one (or its JSON record's), else the
    /// file's.
    mutating func ingest(_ bytes: [UInt8], file: ArchiveFile) {
        let stream = LogStreamName(file.entity)
        var batcher = self.batcher
        let emit: (Transaction) -> Void = { batcher.add($0) }
        bytes.withUnsafeBytes { all in
            var start = 0
            for i in 0...all.count where i == all.count || all[i] == 0x0A {
                let line = UnsafeRawBufferPointer(rebasing: all[start..<i])
                start = i + 1
                guard !line.isEmpty else { continue }
                flex.ingest(logStream: stream, timestamp: Self.time(of: line) ?? file.time, message: line, emit: emit)
            }
        }
        self.batcher = batcher
    }

    /// `2026-05-04T08:00:00.123Z ...`, `[2026-05-04T08:00:00.123Z] ...`, or a JSON record's `timestamp`/`time`/`date`.
    static func time(of line: UnsafeRawBufferPointer) -> EpochMillis? {
        var i = 0
        while i < line.count, line[i] == 0x20 { i += 1 }
        guard i < line.count else { return nil }
        if line[i] == UInt8(ascii: "{") {
            guard let record = try? JSONReader.parse(line) else { return nil }
            for key in ["timestamp", "time", "date"] {
                if let ms = record[key]?.int64Value { return EpochMillis(ms) }
                if let text = record[key]?.stringValue, let t = EpochMillis.parseISO8601(text) { return t }
            }
            return nil
        }
        if line[i] == UInt8(ascii: "[") { i += 1 }
        var end = i
        while end < line.count, end - i < 40, line[end] != 0x20, line[end] != UInt8(ascii: "]") { end += 1 }
        return EpochMillis.parseISO8601(String(decoding: UnsafeRawBufferPointer(rebasing: line[i..<end]), as: UTF8.self))
    }

    mutating func finish(window: PlannedWindow, complete: Bool) async -> (Acknowledgement, changed: Bool) {
        var batcher = self.batcher
        let emit: (Transaction) -> Void = { batcher.add($0) }
        flex.flushIncomplete(olderThan: now.adding(milliseconds: -settings.incompleteMaxAgeMs), emit: emit)
        flex.finishWindow(emit: emit)
        counters = flex.takeCounters()
        batcher.close()
        counters.traffic.filtered = batcher.filtered
        counters.traffic.encoding = batcher.counters
        self.batcher = batcher
        return (await sink.send(self.batcher.take(), deadline: deadline, into: &delivery), true)
    }

    func writeCheckpointMembers(to w: inout JSONWriter, window: PlannedWindow, complete: Bool) {
        TickCheckpoint.writeStitcherState(flex.exportState(), to: &w)
    }
}

/// One environment's archive in one tick, reported like a log group (its `flex` counters set).
public struct FlexArchiveSource: Sendable {
    public let client: AnypointArchiveClient
    public let archive: FlexConfiguration.Archive
    public let store: any CheckpointStore
    public let sink: any BatchSink
    public let filter: TransactionFilter
    public let logger: Logger

    public init(client: AnypointArchiveClient, archive: FlexConfiguration.Archive, store: any CheckpointStore, sink: any BatchSink,
                filter: TransactionFilter, logger: Logger) {
        self.client = client
        self.archive = archive
        self.store = store
        self.sink = sink
        self.filter = filter
        self.logger = logger
    }

    /// The name the environment's transactions and summary carry in place of a log group.
    public func sourceName(environment: String) -> LogGroupName {
        LogGroupName("anypoint-archive/\(archive.organizationID)/\(environment)")
    }

    /// The checkpoint keeps the archive's member names: `source` for what it belongs to, `file` for the position.
    public static let format = WindowCheckpointFormat(ownerKey: "source", positionKey: "file")

    public func run(environment: String, settings: TickSettings, deadline: Deadline, now: EpochMillis) async -> LogGroupOutcome {
        let name = sourceName(environment: environment)
        var outcome = LogGroupOutcome(logGroup: name)
        let log = logger.with("flexArchive", name.rawValue)
        var consumer = FlexArchiveConsumer(client: client, archive: archive, environment: environment, source: name, settings: settings,
                                           filter: filter, sink: sink, deadline: deadline, now: now, logger: log)
        let key = "flex-archive-\(archive.organizationID)-\(environment)"
        let source = WindowedSource(
            reader: FlexArchiveReader(client: client, archive: archive, environment: environment), store: store, key: key,
            owner: name.rawValue, label: "Anypoint archive \(archive.organizationID)/\(environment)", positionNoun: "file",
            format: Self.format,
            policy: WindowPolicy(overlapMs: Int64(archive.overlapSeconds) * 1000, pullMarginMs: settings.pullMarginMs, commitEachPage: true),
            logger: log)
        let lag = Int64(archive.lagSeconds) * 1000
        let initial = now.adding(milliseconds: -Int64(archive.initialLookbackSeconds) * 1000 - lag)
        outcome.window = await source.run(from: .checkpoint(initialWatermark: initial, initialStart: initial), end: now.adding(milliseconds: -lag),
                                          consumer: &consumer, deadline: deadline)
        outcome.streams = consumer.entities
        outcome.traffic = consumer.counters.traffic
        outcome.flex = consumer.counters
        outcome.delivery = consumer.delivery
        outcome.processMs = consumer.processMs
        if consumer.missingFiles > 0 {
            outcome.notes.append("\(name.rawValue): \(consumer.missingFiles) listed file(s) could no longer be fetched (404)")
        }
        return outcome
    }
}

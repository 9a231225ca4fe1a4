// The CONTENT_TYPE_REGEX and EXCLUDED_EXTENSIONS_REGEX filters: which transactions are worth sending.

/// Why a filter pattern could not be used (reported at configuration time, with the setting's name).
public struct FilterPatternError: Error, Sendable, CustomStringConvertible {
    public let setting: String
    public let pattern: String
    public let reason: String
    public var description: String { "\(setting) is not a valid regular expression (\(pattern)): \(reason)" }
}

/// Keeps transactions whose response content type matches `contentType` (or that have none, like failure flows and
/// HTTP API records) and whose path does not match `excludedExtensions`. Patterns are searched, not anchored, as
/// Python's `re.search` would (the reference integration's behaviour); anchor them with `^`/`$` if needed.
public struct TransactionFilter: @unchecked Sendable {
    // @unchecked: Regex is not Sendable, but the filter never mutates the compiled patterns after init.
    public static let defaultContentTypePattern =
        #"(?i)(application/(json|xml|x-www-form-urlencoded|[a-z0-9.+-]+\+(json|xml))|text/(html|plain|xml))"#
    public static let defaultExcludedExtensionsPattern =
        #"(?i)\.(css|js|mjs|map|png|jpe?g|gif|bmp|ico|svg|webp|avif|tiff?|woff2?|ttf|otf|eot|pdf|docx?|xlsx?|pptx?|odt|ods|rtf|zip|gz|tgz|tar|rar|7z|bz2|xz|mp3|mp4|m4a|aac|wav|ogg|oga|webm|avi|mov|mkv|flac|wmv)$"#

    public enum Verdict: Sendable, Equatable {
        case keep
        case dropContentType
        case dropExcludedExtension
    }

    private let contentType: Regex<AnyRegexOutput>?
    private let excludedExtensions: Regex<AnyRegexOutput>?
    // Content types and paths repeat a lot; a small cache keeps regex cost off the per-transaction path.
    private var contentTypeCache: [String: Bool] = [:]
    private var extensionCache: [String: Bool] = [:]
    static let cacheLimit = 4096

    /// nil or empty pattern: that filter is off.
    public init(contentTypePattern: String? = TransactionFilter.defaultContentTypePattern,
                excludedExtensionsPattern: String? = TransactionFilter.defaultExcludedExtensionsPattern) throws(FilterPatternError) {
        contentType = try Self.compile(contentTypePattern, setting: "CONTENT_TYPE_REGEX")
        excludedExtensions = try Self.compile(excludedExtensionsPattern, setting: "EXCLUDED_EXTENSIONS_REGEX")
    }

    /// Both filters off: every transaction is kept.
    public static var passAll: TransactionFilter { TransactionFilter(contentType: nil, excludedExtensions: nil) }

    private init(contentType: Regex<AnyRegexOutput>?, excludedExtensions: Regex<AnyRegexOutput>?) {
        self.contentType = contentType
        self.excludedExtensions = excludedExtensions
    }

    private static func compile(_ pattern: String?, setting: String) throws(FilterPatternError) -> Regex<AnyRegexOutput>? {
        guard let pattern, !pattern.isEmpty else { return nil }
        do { return try Regex(pattern) } catch {
            throw FilterPatternError(setting: setting, pattern: pattern, reason: String(describing: error))
        }
    }

    public mutating func verdict(for transaction: Transaction) -> Verdict {
        if let excludedExtensions, let path = transaction.request.path, !path.isEmpty {
            let excluded: Bool
            if let cached = extensionCache[path] { excluded = cached } else {
                excluded = (try? excludedExtensions.firstMatch(in: path)) != nil
                if extensionCache.count >= Self.cacheLimit { extensionCache.removeAll(keepingCapacity: true) }
                extensionCache[path] = excluded
            }
            if excluded { return .dropExcludedExtension }
        }
        if let contentType, let value = transaction.response.header("content-type"), !value.isEmpty {
            let matches: Bool
            if let cached = contentTypeCache[value] { matches = cached } else {
                matches = (try? contentType.firstMatch(in: value)) != nil
                if contentTypeCache.count >= Self.cacheLimit { contentTypeCache.removeAll(keepingCapacity: true) }
                contentTypeCache[value] = matches
            }
            if !matches { return .dropContentType }
        }
        return .keep
    }

    /// Applies the verdict and counts drops by reason. Returns true when the transaction is kept.
    public mutating func keep(_ transaction: Transaction, counters: inout FilterCounters) -> Bool {
        switch verdict(for: transaction) {
        case .keep: return true
        case .dropContentType: counters.contentType += 1; return false
        case .dropExcludedExtension: counters.excludedExtension += 1; return false
        }
    }
}

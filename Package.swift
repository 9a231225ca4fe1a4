// swift-tools-version: 6.1
// apitap: a Swift AWS Lambda custom runtime that mirrors API Gateway traffic to UAP and exports Anypoint audit logs.
import PackageDescription

let package = Package(
    name: "apitap",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "apitap", targets: ["apitap"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // 4.x uses FoundationEssentials (3.x pulls in all of Foundation).
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // Property tests (tests only, never linked into the product).
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // The reference renderer the HTML report's template is checked against (tests only: it imports Foundation).
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // C libraries, as system libraries, plus typed shims for their variadic/macro entry points.
        .systemLibrary(name: "Clibcurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "Czlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CCurl", dependencies: ["Clibcurl"]),
        .target(name: "CZlib", dependencies: ["Czlib"]),
        // librelp (Debian librelp-dev) is opened with dlopen by this shim, not linked: only a RELP sink loads it and
        // the GnuTLS closure it needs; the build needs just its header.
        .target(name: "CRelp"),

        // Core: time, logging, JSON, file I/O, locks, settings, URL and secret handling (no dependencies).
        // Pipeline: batches, delivery reports, checkpoint stores, pacing and fan-out, metrics.
        .target(name: "Core"),
        .target(name: "Pipeline", dependencies: ["Core"]),
        .target(name: "HTTP", dependencies: ["CCurl", "CZlib", "Core"]),
        .target(name: "LambdaRuntime", dependencies: ["HTTP", "Core"]),
        .target(name: "AWS", dependencies: ["HTTP", "Core", "Pipeline", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Traffic", dependencies: ["Core", "Pipeline", "HTTP", "AWS"]),
        .target(name: "Audit", dependencies: ["Core", "Pipeline", "HTTP", "AWS", "CRelp"]),
        .target(name: "Posture", dependencies: ["Core", "Pipeline", "HTTP", "AWS", "Audit"]),
        .executableTarget(
            name: "apitap",
            dependencies: [
                "LambdaRuntime", "HTTP", "Core", "Pipeline", "Traffic", "AWS", "Audit", "Posture",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "apitap-bench",
            dependencies: ["LambdaRuntime", "HTTP", "Core", "Pipeline", "Traffic", "AWS", "Audit", "AuditDoubles", "Posture", "APIManagerDoubles"],
            path: "Benchmarks/apitap-bench"
        ),

        // Test doubles shared by the Swift tests, the benchmarks and the shell suites (never shipped).
        .target(name: "TestSupport", dependencies: ["HTTP", "Core"], path: "Tests/Support/TestSupport"),
        .target(name: "AuditDoubles", dependencies: ["HTTP", "Core", "TestSupport"], path: "Tests/Support/AuditDoubles"),
        // Fuzz targets: libFuzzer with -sanitize=fuzzer (scripts/dev/fuzz.sh), a corpus replayer otherwise.
        .executableTarget(name: "apitap-fuzz", dependencies: ["AWS", "Audit", "Core", "LambdaRuntime", "Posture", "Traffic"],
                          path: "Tests/Fuzz/apitap-fuzz"),
        .executableTarget(name: "anypoint-double", dependencies: ["AuditDoubles", "Core", "TestSupport"], path: "Tests/Support/anypoint-double"),
        .target(name: "APIManagerDoubles", dependencies: ["HTTP", "Core", "AuditDoubles"], path: "Tests/Support/APIManagerDoubles"),
        .executableTarget(name: "api-manager-double", dependencies: ["APIManagerDoubles", "Core", "TestSupport"], path: "Tests/Support/api-manager-double"),
        .target(name: "FlexDoubles", dependencies: ["HTTP", "Core"], path: "Tests/Support/FlexDoubles"),

        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "CZlib", "TestSupport"]),
        .testTarget(name: "LambdaRuntimeTests", dependencies: ["LambdaRuntime", "HTTP", "Core"]),
        .testTarget(name: "TrafficTests", dependencies: [
            "Traffic", "Core", "Pipeline", "AWS", "HTTP", "FlexDoubles", .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "AWSTests", dependencies: ["AWS", "HTTP", "Core", "Pipeline", "TestSupport", "Traffic"]),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "AuditDoubles", "AWS", "HTTP", "Core", "Pipeline", "TestSupport"]),
        .testTarget(name: "CoreTests", dependencies: ["Core"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Core"]),
        .testTarget(name: "PostureTests", dependencies: [
            "Posture", "APIManagerDoubles", "Audit", "AWS", "HTTP", "Core", "Pipeline", "TestSupport",
            .product(name: "Mustache", package: "swift-mustache"),
        ]),
    ]
)

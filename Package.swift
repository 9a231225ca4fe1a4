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

        .target(name: "Pipeline"),
        .target(name: "HTTP", dependencies: ["CCurl", "CZlib", "Pipeline"]),
        .target(name: "LambdaRuntime", dependencies: ["HTTP", "Pipeline"]),
        .target(name: "AWS", dependencies: ["HTTP", "Pipeline", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Traffic", dependencies: ["Pipeline", "HTTP", "AWS"]),
        .target(name: "Audit", dependencies: ["Pipeline", "HTTP", "AWS", "CCurl", "CRelp"]),
        .executableTarget(
            name: "apitap",
            dependencies: [
                "LambdaRuntime", "HTTP", "Pipeline", "Traffic", "AWS", "Audit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "apitap-bench",
            dependencies: ["LambdaRuntime", "HTTP", "Pipeline", "Traffic", "AWS", "Audit", "AuditDoubles"],
            path: "Benchmarks/apitap-bench"
        ),

        // Test doubles shared by the Swift tests, the benchmarks and the shell suites (never shipped).
        .target(name: "TestSupport", dependencies: ["HTTP", "Pipeline"], path: "Tests/Support/TestSupport"),
        .target(name: "AuditDoubles", dependencies: ["HTTP", "Pipeline", "TestSupport"], path: "Tests/Support/AuditDoubles"),
        .executableTarget(name: "anypoint-double", dependencies: ["AuditDoubles", "Pipeline"], path: "Tests/Support/anypoint-double"),

        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "CZlib", "TestSupport"]),
        .testTarget(name: "LambdaRuntimeTests", dependencies: ["LambdaRuntime", "HTTP", "Pipeline"]),
        .testTarget(name: "TrafficTests", dependencies: [
            "Traffic", "Pipeline", "AWS", "HTTP", .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "AWSTests", dependencies: ["AWS", "HTTP", "Pipeline", "TestSupport", "Traffic"]),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "AuditDoubles", "AWS", "HTTP", "Pipeline", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline"]),
    ]
)

// swift-tools-version:6.2
import PackageDescription

/// The modules on every I/O's path (the engine and the NBD server) drop the run-time checks
/// of exclusive access in release builds: they cost about 5 % of the CPU per I/O of an NBD
/// connection at queue depth 16 (`mapperd-bench nbd`: the checks' access set lives in
/// thread-local storage, looked up on every access to a class's stored property). Debug
/// builds, which `swift test` runs, keep the checks, so an overlapping access still traps in
/// the tests; the compiler's static checks apply to both.
let hotPathSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "mapperd",
    products: [
        .executable(name: "mapperd", targets: ["mapperd"]),
        .executable(name: "mapperd-bench", targets: ["mapperd-bench"]),
        .executable(name: "mapperctl", targets: ["mapperctl"]),
        .library(name: "MapperCore", targets: ["MapperCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird", from: "2.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-openapi-urlsession", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .target(name: "CMapperSys"),
        .target(
            name: "MapperCore",
            dependencies: [
                "CMapperSys", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "MapperStore",
            dependencies: [
                "MapperCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.process("Migrations")]
        ),
        .target(
            name: "MapperPostgres",
            dependencies: [
                "MapperCore",
                "MapperStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.process("Migrations")]
        ),
        .target(
            name: "MapperNBD",
            dependencies: [
                "MapperCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "MapperAPI",
            dependencies: [.product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        // The version string alone, so that mapperctl needs no engine code.
        .target(name: "MapperVersion"),
        .target(
            name: "MapperServer",
            dependencies: [
                "MapperVersion",
                "MapperCore",
                "MapperStore",
                "MapperPostgres",
                "MapperAPI",
                "MapperNBD",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "MapperTestSupport",
            dependencies: ["MapperCore"]
        ),
        .executableTarget(
            name: "mapperd",
            dependencies: [
                "MapperVersion",
                "MapperCore",
                "MapperStore",
                "MapperServer",
                "MapperPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "mapperctl",
            dependencies: [
                "MapperAPI",
                "MapperVersion",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIURLSession", package: "swift-openapi-urlsession"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .executableTarget(
            name: "mapperd-bench",
            dependencies: [
                "MapperCore",
                "MapperStore",
                "MapperServer",
                "MapperNBD",
                "MapperPostgres",
                "MapperTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/mapperd-bench"
        ),
        .testTarget(
            name: "MapperCoreTests",
            dependencies: ["MapperCore", "MapperTestSupport"]
        ),
        .testTarget(
            name: "MapperStoreTests",
            dependencies: ["MapperCore", "MapperStore", "MapperPostgres", "MapperTestSupport"]
        ),
        .testTarget(
            name: "MapperNBDTests",
            dependencies: [
                "MapperCore", "MapperNBD", "MapperTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "MapperServerTests",
            dependencies: [
                "MapperCore", "MapperStore", "MapperServer", "MapperAPI", "MapperTestSupport", "mapperd", "mapperctl",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
            ],
            // Client scripts the end-to-end tests run with python3 (found through #filePath).
            exclude: ["Scripts"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

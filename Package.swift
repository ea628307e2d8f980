// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "mapperd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mapperd", targets: ["mapperd"]),
        .executable(name: "mapperd-bench", targets: ["mapperd-bench"]),
        .library(name: "MapperCore", targets: ["MapperCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .target(
            name: "MapperCore",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "MapperStore",
            dependencies: [
                "MapperCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.process("Migrations")]
        ),
        .target(
            name: "MapperTestSupport",
            dependencies: ["MapperCore"]
        ),
        .executableTarget(
            name: "mapperd",
            dependencies: [
                "MapperCore",
                "MapperStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "mapperd-bench",
            dependencies: [
                "MapperCore",
                "MapperStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/mapperd-bench"
        ),
        .testTarget(
            name: "MapperCoreTests",
            dependencies: ["MapperCore", "MapperTestSupport"]
        ),
        .testTarget(
            name: "MapperStoreTests",
            dependencies: ["MapperCore", "MapperStore", "MapperTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

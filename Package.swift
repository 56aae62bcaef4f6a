// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "hearth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hearth", targets: ["hearth"]),
        .executable(name: "hearth-init", targets: ["hearth-init"]),
        .executable(name: "hearth-echo", targets: ["hearth-echo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", exact: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
    ],
    targets: [
        // The only code that runs between clone3 and execve, plus the libseccomp compiler shim.
        .target(
            name: "CHearthSpawn",
            linkerSettings: [.linkedLibrary("seccomp")]
        ),
        // The sandbox's pid 1, a small static C program exec'd once the sandbox is set up, so that
        // pid 1 is not a copy of the supervisor (installed next to `hearth`).
        .executableTarget(
            name: "hearth-init",
            linkerSettings: [.unsafeFlags(["-static-executable", "-Xlinker", "--gc-sections"])]
        ),
        // `hearth bench`'s default function: the C echo example, built with hearth (issue 10).
        .executableTarget(
            name: "hearth-echo",
            linkerSettings: [.unsafeFlags(["-static-executable", "-Xlinker", "--gc-sections"])]
        ),
        // zlib, for gzip-compressed container image layers.
        .systemLibrary(name: "CHearthZlib", path: "Sources/CHearthZlib"),
        .target(
            name: "HearthSandbox",
            dependencies: ["CHearthSpawn"],
            // The policy data files, embedded by scripts/embed-seccomp (ADR 0006).
            exclude: ["seccomp"]
        ),
        .target(
            name: "HearthRuntimeAPI",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "HearthCore",
            dependencies: [
                "HearthSandbox",
                "HearthRuntimeAPI",
                "CHearthZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The durable event core: the ledger (claims, leases, group commit), its dispatcher, and
        // the engines on it (asynchronous invocations). No storage, HTTP or syscalls: the SQL is
        // HearthStore's LedgerSQL.swift behind `LedgerBackend`; the clock is injected.
        .target(name: "HearthEvents", dependencies: ["HearthScheduler"]),
        // SQS standard queues on the ledger (visibility, receive counts, redrive, delay,
        // retention, long polls) and the event source mapping pollers. No wire format; the
        // clock is the ledger's.
        .target(name: "HearthQueues", dependencies: ["HearthEvents", .product(name: "Crypto", package: "swift-crypto")]),
        // EventBridge Scheduler's expression language: rate/cron/at, time zones and DST, and
        // next(after:). Pure: no HTTP, no I/O, every instant passed in.
        .target(name: "HearthScheduler"),
        // Step Functions' Amazon States Language (JSONPath): parse + validate, JSONPath,
        // intrinsics, and the interpreter (journal entries in, history events and actions out).
        // Pure: no I/O, no clock, no HTTP.
        .target(name: "HearthStates", dependencies: ["HearthScheduler", .product(name: "Crypto", package: "swift-crypto")]),
        // SAM templates: YAML/JSON with CloudFormation's tags, intrinsic functions, Globals, the
        // resource graph and change sets. Pure: no HTTP, no I/O beyond what callers pass in.
        .target(
            name: "HearthDeploy",
            dependencies: [.product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Embedded state: functions, versions, aliases, the event ledger (SQLite through GRDB).
        .target(
            name: "HearthStore",
            dependencies: ["HearthEvents", "HearthQueues", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The Lambda API front door: HTTP, SigV4, routing. No syscalls.
        .target(
            name: "HearthServer",
            dependencies: [
                "HearthCore",
                "HearthDeploy",
                "HearthEvents",
                "HearthQueues",
                "HearthScheduler",
                "HearthStates",
                "HearthStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        .executableTarget(
            name: "hearth",
            dependencies: [
                "HearthCore",
                "HearthServer",
                "HearthQueues",
                "HearthScheduler",
                "HearthDeploy",
                // Built with hearth (not linked): the sandbox's pid 1 and bench's default function
                // are looked up next to the hearth binary, so `swift build --product hearth` must
                // leave them there.
                "hearth-init",
                "hearth-echo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Fuzz targets: the per-input logic, shared by the libFuzzer executables below and the
        // replay tests (HearthFuzzTests). scripts/fuzz builds the executables with
        // -sanitize=fuzzer into .build-fuzz; an ordinary build makes them corpus replayers.
        .target(
            name: "HearthFuzzing",
            dependencies: [
                "HearthRuntimeAPI",
                "HearthServer",
                "HearthCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(name: "CHearthFuzzDriver"),
        .executableTarget(name: "FuzzRuntimeAPI", dependencies: ["HearthFuzzing", "CHearthFuzzDriver"], path: "Sources/Fuzz/RuntimeAPI"),
        .executableTarget(name: "FuzzInvokeAPI", dependencies: ["HearthFuzzing", "CHearthFuzzDriver"], path: "Sources/Fuzz/InvokeAPI"),
        .executableTarget(name: "FuzzSigV4", dependencies: ["HearthFuzzing", "CHearthFuzzDriver"], path: "Sources/Fuzz/SigV4"),
        .executableTarget(name: "FuzzZip", dependencies: ["HearthFuzzing", "CHearthFuzzDriver"], path: "Sources/Fuzz/Zip"),
        .executableTarget(name: "FuzzTar", dependencies: ["HearthFuzzing", "CHearthFuzzDriver"], path: "Sources/Fuzz/Tar"),
        .testTarget(
            name: "HearthFuzzTests",
            dependencies: ["HearthFuzzing", "HearthCore"]
        ),
        .testTarget(
            name: "HearthSandboxTests",
            dependencies: ["HearthSandbox"]
        ),
        .testTarget(
            name: "HearthRuntimeAPITests",
            dependencies: [
                "HearthRuntimeAPI",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "HearthEventsTests",
            dependencies: ["HearthEvents", "HearthStore", "HearthScheduler"]
        ),
        .testTarget(
            name: "HearthQueuesTests",
            dependencies: ["HearthQueues", "HearthEvents", "HearthStore"]
        ),
        .testTarget(
            name: "HearthSchedulerTests",
            dependencies: ["HearthScheduler"]
        ),
        .testTarget(
            name: "HearthStatesTests",
            dependencies: ["HearthStates"]
        ),
        .testTarget(
            name: "HearthDeployTests",
            dependencies: ["HearthDeploy"]
        ),
        .testTarget(
            name: "HearthStoreTests",
            dependencies: ["HearthStore", "HearthEvents", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "HearthServerTests",
            dependencies: ["HearthServer"]
        ),
        .testTarget(
            name: "HearthIntegrationTests",
            dependencies: ["HearthCore", "HearthServer", "HearthQueues"]
        ),
    ]
)

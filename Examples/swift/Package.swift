// swift-tools-version:6.0
// Example functions in Swift on HearthRuntime. Package one for Hearth or AWS Lambda with:
//   hearth package wordstats --package-path Examples/swift --output wordstats.zip
import PackageDescription

let package = Package(
    name: "hearth-swift-examples",
    products: [
        .executable(name: "swift-echo", targets: ["SwiftEcho"]),
        .executable(name: "wordstats", targets: ["WordStats"]),
        .executable(name: "stream-lines", targets: ["StreamLines"]),
    ],
    dependencies: [
        .package(path: "../../HearthRuntime"),
    ],
    targets: [
        .executableTarget(name: "SwiftEcho", dependencies: [.product(name: "HearthRuntime", package: "HearthRuntime")]),
        .executableTarget(name: "WordStats", dependencies: [.product(name: "HearthRuntime", package: "HearthRuntime")]),
        .executableTarget(name: "StreamLines", dependencies: [.product(name: "HearthRuntime", package: "HearthRuntime")]),
    ]
)

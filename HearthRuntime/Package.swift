// swift-tools-version:6.0
// HearthRuntime: a small Lambda runtime client for functions written in Swift. Its own package,
// with no dependencies beyond Foundation, so a function depends on it without pulling in the
// supervisor's (NIO, GRDB, swift-crypto). The same binary runs on Hearth and on AWS Lambda's
// provided.al2023: it speaks the Runtime API over Hearth's Unix socket when
// HEARTH_RUNTIME_SOCKET is set, else over AWS_LAMBDA_RUNTIME_API (host:port).
import PackageDescription

let package = Package(
    name: "hearth-runtime",
    products: [
        .library(name: "HearthRuntime", targets: ["HearthRuntime"]),
    ],
    targets: [
        .target(name: "HearthRuntime"),
        .testTarget(name: "HearthRuntimeTests", dependencies: ["HearthRuntime"]),
    ]
)

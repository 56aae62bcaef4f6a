import ArgumentParser
import Foundation
import HearthCore

/// `hearth package`: a Swift executable product → a Lambda-layout zip with `bootstrap` at its root.
struct PackageFunction: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "package",
        abstract: "Build a Swift executable product (release, static Swift stdlib) into a Lambda zip with bootstrap at its root.",
        discussion: """
            The zip is ready for `hearth create --zip-file`, `hearth run`, and AWS Lambda's
            provided.al2023 runtime. Functions use the HearthRuntime library (HearthRuntime/ in the
            Hearth repository); see Examples/swift.
            """)

    @Argument(help: "The executable product to package.")
    var product: String

    @Option(help: "Where to write the zip (default: PRODUCT.zip).")
    var output: String?

    @Option(help: "The Swift package's folder.")
    var packagePath: String = "."

    @Option(help: "SwiftPM build folder (default: the package's .build).")
    var scratchPath: String?

    func run() async throws {
        let packager = FunctionPackager(product: product, packagePath: packagePath, output: output ?? product + ".zip",
                                        scratchPath: scratchPath)
        do {
            _ = try packager.run()
        } catch let error as HearthError {
            FileHandle.standardError.write(Data("hearth: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

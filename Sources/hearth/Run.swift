import ArgumentParser
import Foundation
import HearthCore

/// `hearth run`: one-shot local invoke of a function folder or zip, in a real sandbox.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Lambda-style function once (or --repeat N times) in a sandbox.",
        discussion: """
            PATH is a folder or a .zip whose root holds an executable `bootstrap`; or give
            --image ARCHIVE (a `docker save` archive or an OCI image layout) instead. The response
            payload goes to stdout byte for byte; the function's output and START/END/REPORT
            lines go to stderr. Exit status: 0 success, 1 function or runtime error, 2 usage
            or set-up error.
            """)

    @Argument(help: "Function folder or .zip with a `bootstrap` at its root.")
    var path: String?

    @Option(help: "A container image to run instead of PATH: a `docker save` archive or an OCI image layout (tar or folder).")
    var image: String?

    @Option(name: .customLong("entrypoint"), help: "Container image: replaces the image's ENTRYPOINT (repeat for each word).")
    var imageEntrypoint: [String] = []

    @Option(name: .customLong("command"), help: "Container image: replaces the image's CMD (repeat for each word).")
    var imageCommand: [String] = []

    @Option(name: .customLong("workdir"), help: "Container image: replaces the image's WORKDIR.")
    var imageWorkdir: String?

    @Argument(help: "`-` to read the event from standard input.")
    var stdinMarker: String?

    @Option(help: "The event, as JSON text.")
    var event: String?

    @Option(help: "Read the event from FILE (`-` for standard input).")
    var eventFile: String?

    @Option(help: "Invoke N times, reusing the warm instance.")
    var `repeat`: Int = 1

    @Option(help: "Memory in MB (128–10240).")
    var memory: Int = 128

    @Option(help: "Timeout in seconds (1–900).")
    var timeout: Double = 3

    @Option(help: "vCPUs (default: proportional to memory, 1769 MB = 1 vCPU; 0 lifts the quota).")
    var cpu: Double?

    @Option(name: .customLong("env"), help: "Environment variable K=V (repeatable).")
    var environment: [String] = []

    @Option(help: "Handler name, passed as _HANDLER.")
    var handler: String?

    @Option(help: "Runtime image (provided, provided.al2, provided.al2023).")
    var runtime: String = "provided"

    @Option(help: "Size of /tmp in MB (512–10240).")
    var ephemeralStorage: Int = 512

    @Option(name: .customLong("layer"), help: "A layer folder or zip, extracted read-only under /opt (repeatable, up to 5, in order).")
    var layers: [String] = []

    @Option(help: "Function name (default: the folder or zip name).")
    var name: String?

    @Option(help: "State directory (runtime image cache).")
    var stateDir: String?

    @Option(help: "Host uids/gids Hearth owns, START:COUNT: each instance runs as one of them (seen inside as 993/990), in a user namespace that id owns. No id of /etc/passwd or /etc/group may be in it.")
    var uidRange: String = "\(HostIDRange.defaultStart):\(HostIDRange.defaultCount)"

    @Flag(help: "Unprivileged supervisors only: a user namespace of the supervisor's own (as root every sandbox already has one, owned by its instance's uid).")
    var userns = false

    @Flag(help: "A new sandbox for every invocation, destroyed after it answers (nothing carries over; implies --prefork).")
    var fresh = false

    @Flag(help: "Start instances from pre-forked shells (set up before the invocation; Init Duration then counts only exec + runtime init).")
    var prefork = false

    /// `hearth run --image X -`: the lone `-` lands in PATH.
    var eventFromStdin: Bool { stdinMarker != nil || (image != nil && path == "-") }

    func validate() throws {
        if image == nil && path == nil { throw ValidationError("give a function folder or zip, or --image ARCHIVE") }
        if image != nil, let path, path != "-" { throw ValidationError("give either PATH or --image, not both") }
        if image == nil && !(imageEntrypoint.isEmpty && imageCommand.isEmpty && imageWorkdir == nil) {
            throw ValidationError("--entrypoint, --command and --workdir apply to --image only")
        }
        if let stdinMarker, stdinMarker != "-" { throw ValidationError("unexpected argument \(stdinMarker); use - to read the event from stdin") }
        let sources = [event != nil, eventFile != nil, eventFromStdin].filter { $0 }.count
        if sources > 1 { throw ValidationError("give the event once: --event, --event-file or -") }
        if `repeat` < 1 { throw ValidationError("--repeat must be at least 1") }
        for pair in environment where !pair.contains("=") {
            throw ValidationError("--env \(pair): expected KEY=VALUE")
        }
    }

    func readEvent() throws -> [UInt8] {
        if let event { return Array(event.utf8) }
        if eventFromStdin || eventFile == "-" { return [UInt8](FileHandle.standardInput.readDataToEndOfFile()) }
        if let eventFile {
            guard let data = FileManager.default.contents(atPath: eventFile) else {
                throw ValidationError("cannot read event file \(eventFile)")
            }
            return [UInt8](data)
        }
        return Array("{}".utf8)
    }

    func run() async throws {
        let payload = try readEvent()
        var config = FunctionConfig(name: name ?? Self.defaultName(for: image ?? path ?? "function"))
        config.memoryMB = memory
        config.timeout = timeout
        config.cpus = cpu
        config.handler = handler
        config.runtime = runtime
        config.ephemeralStorageMB = ephemeralStorage
        config.userNamespace = userns
        config.environment = environment.map { pair in
            let eq = pair.firstIndex(of: "=")!
            return (String(pair[..<eq]), String(pair[pair.index(after: eq)...]))
        }
        config.freshSandbox = fresh
        var runner = LocalRunner(config: config, codePath: image == nil ? path : nil, imagePath: image,
                                 stateDirectory: stateDir, layers: layers)
        runner.uidRange = try HostIDRange.parse(uidRange)
        runner.imageOverrides = (imageEntrypoint.isEmpty ? nil : imageEntrypoint, imageCommand.isEmpty ? nil : imageCommand, imageWorkdir)
        runner.prefork = prefork || fresh
        let status = await runner.run(payload: payload, times: `repeat`)
        throw ExitCode(status)
    }

    static func defaultName(for path: String) -> String {
        var base = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        base = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "-" })
        return base.isEmpty ? "function" : String(base.prefix(64))
    }
}

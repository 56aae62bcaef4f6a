import Foundation
import Synchronization
import HearthSandbox

/// `hearth run`: invokes one function N times in sandboxes, reusing the warm instance and
/// cold-starting a fresh one after a crash, timeout or OOM. Prints like Lambda: payload to
/// stdout, logs and START/END/REPORT to stderr.
public struct LocalRunner: Sendable {
    public var config: FunctionConfig
    /// The function's code (folder or zip); nil for a container image.
    public var codePath: String?
    /// A container image (`docker save` archive or OCI layout), instead of code on a runtime.
    public var imagePath: String?
    /// Lambda's `ImageConfig` overrides for a container image.
    public var imageOverrides: (entrypoint: [String]?, command: [String]?, workingDirectory: String?)
    public var stateDirectory: String?
    /// Layer folders or zips, mounted merged and read-only at `/opt`.
    public var layers: [String]
    /// Start instances from pre-forked shells, set up before the invocation that needs one.
    public var prefork = false
    /// Host uids/gids for instances (a root supervisor's, one each), `START:COUNT` parsed.
    public var uidRange = (start: HostIDRange.defaultStart, count: HostIDRange.defaultCount)

    public init(config: FunctionConfig, codePath: String?, imagePath: String? = nil, stateDirectory: String?, layers: [String] = []) {
        self.config = config
        self.codePath = codePath
        self.imagePath = imagePath
        self.imageOverrides = (nil, nil, nil)
        self.stateDirectory = stateDirectory
        self.layers = layers
    }

    static func stderr(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Runs and returns the exit status: 0, 1 (function or runtime error) or 2 (usage/set-up).
    public func run(payload: [UInt8], times: Int) async -> Int32 {
        do {
            try config.validate()
        } catch {
            Self.stderr("hearth: \(error)\n")
            return 2
        }
        let host: SandboxHost
        do {
            // One instance at a time (plus a pre-forked shell): the totals' slack covers both.
            host = try SandboxHost(stateDirectory: stateDirectory ?? SandboxHost.defaultStateDirectory,
                                   totals: .forThisHost(maxInstances: 1), uidRange: uidRange)
        } catch {
            Self.stderr("hearth: \(error)\n")
            return 2
        }
        let code: CodeBundle
        let opt: CodeBundle?
        let image: RuntimeImage
        do {
            if imagePath != nil {
                // A container image brings its own /var/task; an empty code bundle stands in.
                code = CodeBundle(directory: "/nonexistent", isTemporary: false)
            } else {
                code = try CodeBundle.open(codePath ?? ".", scratch: host.runDirectory)
            }
            do {
                opt = try CodeBundle.mergeLayers(layers, scratch: host.runDirectory)
                do {
                    if let imagePath {
                        let imported = try host.containerImages.importImage(imagePath, progress: true)
                        image = try imported.runtimeImage(config: imported.config.overridden(
                            entrypoint: imageOverrides.entrypoint, command: imageOverrides.command,
                            workingDirectory: imageOverrides.workingDirectory))
                    } else {
                        image = try host.images.image(for: config.runtime)
                    }
                } catch {
                    opt?.remove()
                    throw error
                }
            } catch {
                code.remove()
                throw error
            }
        } catch {
            host.close()
            Self.stderr("hearth: \(error)\n")
            return 2
        }
        let current = CurrentInstance()
        let signals = SignalCleanup { await current.destroy(); code.remove(); opt?.remove(); host.close() }
        defer { signals.cancel() }

        let logSink: LogCapture.Sink = { FileHandle.standardError.write(Data($0)) }
        /// Sets up the shell the next cold start will launch.
        func prepareShell() async throws {
            await current.setShell(try await Instance.Shell.prepare(config: config, code: code.directory, opt: opt?.directory,
                                                                    image: image, host: host, logSink: logSink))
        }
        var status: Int32 = 0
        if prefork {
            do {
                try await prepareShell()
            } catch {
                Self.stderr("hearth: \(error)\n")
                status = 2
            }
        }
        for i in 0..<times where status != 2 {
            let requestID = UUID().uuidString.lowercased()
            // INIT_START and START come from the instance's log, in order with the function's output.
            var record: InvocationRecord
            var instance = await current.get()
            if instance == nil {
                do {
                    if let shell = await current.takeShell() {
                        instance = try await shell.launch()
                    } else {
                        instance = try await Instance.start(config: config, code: code.directory, opt: opt?.directory, image: image,
                                                            host: host, logSink: logSink)
                    }
                    await current.set(instance)
                } catch let failure as Instance.StartFailure {
                    Self.stderr("START RequestId: \(requestID) Version: \(config.version)\n")
                    record = InvocationRecord(failedStart: failure, requestID: requestID, config: config)
                    Self.finish(record, index: i, times: times)
                    status = 1
                    continue
                } catch {
                    Self.stderr("hearth: \(error)\n")
                    status = 2
                    break
                }
            }
            // The answer is printed when the runtime posts it; END and REPORT when the
            // invocation ends, at the runtime's next /next (work after the response included).
            let answered = Mutex<InvocationRecord?>(nil)
            record = await instance!.invoke(payload: payload, requestID: requestID) { response in
                answered.withLock { $0 = response }
                Self.printPayload(response, index: i, times: times)
            }
            if !record.instanceReusable || config.sandboxPerInvocation {
                await current.destroy()
                if prefork && i < times - 1 { try? await prepareShell() }
            }
            Self.stderr("END RequestId: \(record.requestID)\n\(record.reportLine)\n\(record.timeoutLine().map { $0 + "\n" } ?? "")")
            if (answered.withLock { $0 } ?? record).errorType != nil { status = 1 }
        }
        await current.destroy()
        code.remove()
        opt?.remove()
        host.close()
        return status
    }

    static func finish(_ record: InvocationRecord, index: Int, times: Int) {
        stderr("END RequestId: \(record.requestID)\n\(record.reportLine)\n\(record.timeoutLine().map { $0 + "\n" } ?? "")")
        printPayload(record, index: index, times: times)
    }

    /// The caller's answer on stdout (newline-separated with `--repeat`).
    static func printPayload(_ record: InvocationRecord, index: Int, times: Int) {
        var out = Data(record.payload)
        if times > 1 && index < times - 1 { out.append(0x0a) }
        FileHandle.standardOutput.write(out)
    }
}

/// The runner's current warm instance, shared with the signal handler.
actor CurrentInstance {
    private var instance: Instance?
    /// The pre-forked shell for the next cold start (`--prefork`).
    private var shell: Instance.Shell?

    func get() -> Instance? { instance }
    func set(_ new: Instance?) { instance = new }
    func setShell(_ new: Instance.Shell) { shell = new }

    func takeShell() -> Instance.Shell? {
        defer { shell = nil }
        return shell
    }

    /// Destroys the instance and discards the shell, if any.
    func destroy() async {
        let (old, oldShell) = (instance, shell)
        instance = nil
        shell = nil
        await old?.destroy()
        await oldShell?.discard()
    }
}

/// On SIGINT/SIGTERM: run `cleanup`, then exit 130/143, so no sandbox outlives the command.
final class SignalCleanup: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    init(cleanup: @escaping @Sendable () async -> Void) {
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                Task {
                    await cleanup()
                    exit(128 + sig)
                }
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

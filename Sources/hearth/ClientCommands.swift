import ArgumentParser
import Foundation
import HearthCore
import HearthSandbox
import HearthServer

/// Where the daemon is and how to sign for it.
struct ClientOptions: ParsableArguments {
    @Option(help: "The daemon's URL (default $HEARTH_ENDPOINT or http://127.0.0.1:9001).")
    var endpoint: String?

    @Option(help: "Credentials file (default: STATE_DIR/credentials, the one hearth serve created).")
    var credentials: String?

    @Option(help: "Profile in the credentials file.")
    var profile: String = "default"

    @Option(help: "Region to sign for.")
    var region: String = "us-east-1"

    @Flag(help: "Print the API's JSON instead of a table.")
    var json = false

    func client() throws -> APIClient {
        let env = ProcessInfo.processInfo.environment
        let url = endpoint ?? env["HEARTH_ENDPOINT"] ?? "http://127.0.0.1:9001"
        guard let endpointURL = URL(string: url), endpointURL.scheme != nil else { throw ValidationError("--endpoint \(url) is not a URL") }
        var creds: AWSCredentials?
        if let key = env["AWS_ACCESS_KEY_ID"], let secret = env["AWS_SECRET_ACCESS_KEY"], credentials == nil {
            creds = AWSCredentials(accessKeyID: key, secretAccessKey: secret)
        } else {
            let path = credentials ?? SandboxHost.defaultStateDirectory + "/credentials"
            if let profiles = try? CredentialsFile.load(path: path) {
                guard let found = profiles[profile] else { throw ValidationError("no profile \(profile) in \(path)") }
                creds = found
            }
        }
        return APIClient(endpoint: endpointURL, credentials: creds, region: region)
    }
}

enum ClientError: Error, CustomStringConvertible {
    case api(String)
    var description: String {
        switch self { case .api(let s): return s }
    }
}

extension APIClient.Response {
    func ok() throws -> Self {
        if (200..<300).contains(status) { return self }
        throw ClientError.api(errorDescription)
    }
}

func printJSON(_ data: Data) {
    if let object = try? JSONSerialization.jsonObject(with: data),
       let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) {
        FileHandle.standardOutput.write(pretty + Data("\n".utf8))
    } else {
        FileHandle.standardOutput.write(data)
    }
}

func table(_ rows: [[String]], header: [String]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }.joined(separator: "\n") + "\n"
}

/// Reads a zip, or zips a folder (keeping execute bits) in memory.
func zipData(_ path: String) throws -> Data {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ValidationError("no such file or folder: \(path)") }
    if !isDir.boolValue { return try Data(contentsOf: URL(fileURLWithPath: path)) }
    return try CodeBundle.zip(folder: URL(fileURLWithPath: path))
}

func environmentPairs(_ pairs: [String]) throws -> [String: String] {
    var env: [String: String] = [:]
    for pair in pairs {
        guard let eq = pair.firstIndex(of: "=") else { throw ValidationError("--env \(pair): expected KEY=VALUE") }
        env[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
    }
    return env
}

func functionPath(_ ref: String) -> String { "/2015-03-31/functions/" + APIClient.encode(ref) }

/// A container image argument as an `ImageUri`: an absolute path on the server (the daemon is
/// local), or an imported image ID (`sha256:…`) as is.
func imageURI(_ value: String) -> String {
    if value.hasPrefix("sha256:") { return value }
    return URL(fileURLWithPath: value).standardizedFileURL.path
}

/// Lambda's `ImageConfig` from --entrypoint/--command/--workdir, or nil when none is given.
func imageConfig(entrypoint: [String], command: [String], workdir: String?) -> [String: Any]? {
    var config: [String: Any] = [:]
    if !entrypoint.isEmpty { config["EntryPoint"] = entrypoint }
    if !command.isEmpty { config["Command"] = command }
    if let workdir { config["WorkingDirectory"] = workdir }
    return config.isEmpty ? nil : config
}

struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a function from a zip or a folder with a bootstrap, or from a container image.",
        discussion: """
            --image takes a `docker save` archive or an OCI image layout (tar or folder) on the machine
            hearth serve runs on (its path is sent as the ImageUri), or the sha256:… ID of an image
            imported before.
            """)
    @OptionGroup var client: ClientOptions
    @Argument var name: String
    @Option(help: "Zip file or folder.") var zipFile: String?
    @Option(help: "Container image: docker save archive or OCI layout (PackageType Image).") var image: String?
    @Option var runtime = "provided"
    @Option var handler: String?
    @Option var memory: Int?
    @Option var timeout: Int?
    @Option(name: .customLong("env")) var environment: [String] = []
    @Option(name: .customLong("layer"), help: "Layer version ARN (repeatable, up to 5, in order).") var layers: [String] = []
    @Option(name: .customLong("entrypoint"), help: "Image: replaces ENTRYPOINT (repeat for each word).") var entrypoint: [String] = []
    @Option(name: .customLong("command"), help: "Image: replaces CMD (repeat for each word).") var command: [String] = []
    @Option(help: "Image: replaces WORKDIR.") var workdir: String?
    @Option var description: String?
    @Flag var publish = false
    @Flag(help: "A new sandbox for every invocation (sets HEARTH_SANDBOX_PER_INVOCATION=true; ADR 0008).") var fresh = false

    func validate() throws {
        if (zipFile == nil) == (image == nil) { throw ValidationError("give --zip-file or --image (one of them)") }
    }

    func run() async throws {
        var body: [String: Any] = ["FunctionName": name, "Role": "arn:aws:iam::000000000000:role/hearth", "Publish": publish]
        if let image {
            body["PackageType"] = "Image"
            body["Code"] = ["ImageUri": imageURI(image)]
            if let config = imageConfig(entrypoint: entrypoint, command: command, workdir: workdir) { body["ImageConfig"] = config }
        } else if let zipFile {
            body["Runtime"] = runtime
            body["Code"] = ["ZipFile": try zipData(zipFile).base64EncodedString()]
        }
        if !layers.isEmpty { body["Layers"] = layers }
        if let handler { body["Handler"] = handler }
        if let memory { body["MemorySize"] = memory }
        if let timeout { body["Timeout"] = timeout }
        if let description { body["Description"] = description }
        var variables = try environmentPairs(environment)
        if fresh { variables[FunctionConfig.sandboxPerInvocationVariable] = "true" }
        if !variables.isEmpty { body["Environment"] = ["Variables": variables] }
        let response = try await client.client().send("POST", "/2015-03-31/functions", body: JSONSerialization.data(withJSONObject: body)).ok()
        try printConfiguration(response.body, json: client.json)
    }
}

func printConfiguration(_ data: Data, json: Bool) throws {
    if json { return printJSON(data) }
    let c = (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    let keys = ["FunctionName", "Version", "Runtime", "MemorySize", "Timeout", "CodeSize", "CodeSha256", "LastModified", "FunctionArn"]
    print(keys.compactMap { k in c[k].map { "\(k): \($0)" } }.joined(separator: "\n"))
}

struct Update: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Update a function's code and/or configuration.")
    @OptionGroup var client: ClientOptions
    @Argument var name: String
    @Option(help: "New code: zip file or folder.") var zipFile: String?
    @Option(help: "New container image (PackageType Image functions).") var image: String?
    @Option var handler: String?
    @Option var memory: Int?
    @Option var timeout: Int?
    @Option(name: .customLong("env")) var environment: [String] = []
    @Option(name: .customLong("layer"), help: "Layer version ARNs (replace the function's; repeatable).") var layers: [String] = []
    @Flag(help: "Remove all layers.") var noLayers = false
    @Option(name: .customLong("entrypoint"), help: "Image: replaces ENTRYPOINT (repeat for each word).") var entrypoint: [String] = []
    @Option(name: .customLong("command"), help: "Image: replaces CMD (repeat for each word).") var command: [String] = []
    @Option(help: "Image: replaces WORKDIR.") var workdir: String?
    @Flag var publish = false

    func run() async throws {
        let api = try client.client()
        var last: APIClient.Response?
        if zipFile != nil && image != nil { throw ValidationError("give --zip-file or --image, not both") }
        let configOnly = memory == nil && timeout == nil && handler == nil && environment.isEmpty && layers.isEmpty && !noLayers
            && imageConfig(entrypoint: entrypoint, command: command, workdir: workdir) == nil
        if let zipFile {
            let body: [String: Any] = ["ZipFile": try zipData(zipFile).base64EncodedString(), "Publish": publish && configOnly]
            last = try await api.send("PUT", functionPath(name) + "/code", body: JSONSerialization.data(withJSONObject: body)).ok()
        } else if let image {
            let body: [String: Any] = ["ImageUri": imageURI(image), "Publish": publish && configOnly]
            last = try await api.send("PUT", functionPath(name) + "/code", body: JSONSerialization.data(withJSONObject: body)).ok()
        }
        var config: [String: Any] = [:]
        if !layers.isEmpty || noLayers { config["Layers"] = layers }
        if let imageConfig = imageConfig(entrypoint: entrypoint, command: command, workdir: workdir) { config["ImageConfig"] = imageConfig }
        if let handler { config["Handler"] = handler }
        if let memory { config["MemorySize"] = memory }
        if let timeout { config["Timeout"] = timeout }
        if !environment.isEmpty { config["Environment"] = ["Variables": try environmentPairs(environment)] }
        if !config.isEmpty {
            last = try await api.send("PUT", functionPath(name) + "/configuration", body: JSONSerialization.data(withJSONObject: config)).ok()
        }
        guard let last else { throw ValidationError("nothing to update: give --zip-file, --image or a configuration option") }
        try printConfiguration(last.body, json: client.json)
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a function (or one version: NAME:VERSION).")
    @OptionGroup var client: ClientOptions
    @Argument var name: String

    func run() async throws {
        _ = try await client.client().send("DELETE", functionPath(name)).ok()
        if !client.json { print("deleted \(name)") }
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List functions.")
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let api = try client.client()
        var all: [[String: Any]] = []
        var marker: String?
        repeat {
            let response = try await api.send("GET", "/2015-03-31/functions/", query: marker.map { [("Marker", $0)] } ?? []).ok()
            let object = response.json ?? [:]
            all += object["Functions"] as? [[String: Any]] ?? []
            marker = object["NextMarker"] as? String
        } while marker != nil
        if client.json { return printJSON(try JSONSerialization.data(withJSONObject: ["Functions": all])) }
        let rows = all.map { f in ["FunctionName", "Runtime", "MemorySize", "Timeout", "LastModified"].map { "\(f[$0] ?? "")" } }
        print(table(rows, header: ["NAME", "RUNTIME", "MEMORY", "TIMEOUT", "LAST MODIFIED"]), terminator: "")
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a function's configuration.")
    @OptionGroup var client: ClientOptions
    @Argument var name: String

    func run() async throws {
        let response = try await client.client().send("GET", functionPath(name) + "/configuration").ok()
        try printConfiguration(response.body, json: client.json)
    }
}

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Publish $LATEST as an immutable version.")
    @OptionGroup var client: ClientOptions
    @Argument var name: String
    @Option var description: String?

    func run() async throws {
        let body: [String: Any] = description.map { ["Description": $0] } ?? [:]
        let response = try await client.client().send("POST", functionPath(name) + "/versions", body: JSONSerialization.data(withJSONObject: body)).ok()
        try printConfiguration(response.body, json: client.json)
    }
}

struct Alias: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, update, delete or list aliases.",
        discussion: "hearth alias set NAME ALIAS --version 1 [--weight 2=0.1]; hearth alias delete NAME ALIAS; hearth alias list NAME")
    @OptionGroup var client: ClientOptions
    @Argument(help: "set, delete or list") var action: String
    @Argument var name: String
    @Argument var alias: String?
    @Option var version: String?
    @Option(help: "Additional version weight, VERSION=WEIGHT (0–1).") var weight: String?

    func run() async throws {
        let api = try client.client()
        switch action {
        case "list":
            let response = try await api.send("GET", functionPath(name) + "/aliases").ok()
            if client.json { return printJSON(response.body) }
            let aliases = response.json?["Aliases"] as? [[String: Any]] ?? []
            let rows = aliases.map { a in [a["Name"], a["FunctionVersion"], (a["RoutingConfig"] as? [String: Any])?["AdditionalVersionWeights"]].map { "\($0 ?? "")" } }
            print(table(rows, header: ["ALIAS", "VERSION", "WEIGHTS"]), terminator: "")
        case "set":
            guard let alias else { throw ValidationError("give the alias name") }
            var body: [String: Any] = [:]
            if let version { body["FunctionVersion"] = version }
            if let weight {
                let parts = weight.split(separator: "=")
                guard parts.count == 2, let w = Double(parts[1]) else { throw ValidationError("--weight must be VERSION=WEIGHT") }
                body["RoutingConfig"] = ["AdditionalVersionWeights": [String(parts[0]): w]]
            }
            let existing = try await api.send("GET", functionPath(name) + "/aliases/" + APIClient.encode(alias))
            let response: APIClient.Response
            if existing.status == 404 {
                body["Name"] = alias
                response = try await api.send("POST", functionPath(name) + "/aliases", body: JSONSerialization.data(withJSONObject: body)).ok()
            } else {
                response = try await api.send("PUT", functionPath(name) + "/aliases/" + APIClient.encode(alias), body: JSONSerialization.data(withJSONObject: body)).ok()
            }
            printJSON(response.body)
        case "delete":
            guard let alias else { throw ValidationError("give the alias name") }
            _ = try await api.send("DELETE", functionPath(name) + "/aliases/" + APIClient.encode(alias)).ok()
        default:
            throw ValidationError("action must be set, delete or list")
        }
    }
}

struct Invoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Invoke a function: the payload to stdout, with --log the log tail to stderr.")
    @OptionGroup var client: ClientOptions
    @Argument(help: "NAME[:QUALIFIER]") var name: String
    @Option(help: "The event as JSON, or - for stdin.") var event: String = "{}"
    @Flag(help: "Print the invocation's log tail to stderr.") var log = false
    @Flag(name: .customLong("async"), help: "Invoke asynchronously (InvocationType Event): queue it durably and print its request id.")
    var asynchronous = false
    @Flag(help: "InvokeWithResponseStream: print the response's chunks as they arrive.") var stream = false

    func run() async throws {
        let payload = event == "-" ? FileHandle.standardInput.readDataToEndOfFile() : Data(event.utf8)
        if stream {
            try await InvokeStream.run(client: try client.client(), path: functionPath(name), payload: payload, log: log)
            return
        }
        var headers: [(String, String)] = []
        if asynchronous {
            headers.append(("X-Amz-Invocation-Type", "Event"))
            let response = try await client.client().send("POST", functionPath(name) + "/invocations", headers: headers, body: payload).ok()
            print(response.header("x-amzn-RequestId") ?? "")
            return
        }
        if log { headers.append(("X-Amz-Log-Type", "Tail")) }
        let response = try await client.client().send("POST", functionPath(name) + "/invocations", headers: headers, body: payload).ok()
        if let tail = response.header("X-Amz-Log-Result"), let data = Data(base64Encoded: tail) {
            FileHandle.standardError.write(data)
        }
        FileHandle.standardOutput.write(response.body)
        if response.header("X-Amz-Function-Error") != nil { throw ExitCode(1) }
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a function's logs (START/END/REPORT and its output).")
    @OptionGroup var client: ClientOptions
    @Argument var name: String
    @Flag(help: "Keep printing new logs.") var follow = false
    @Option(help: "Only logs newer than this: 30s, 10m, 2h, 1d.") var since: String?
    @Option(help: "Only this invocation.") var requestId: String?

    static func parseDuration(_ s: String) throws -> Double {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        guard let unit = s.last, let scale = units[unit], let value = Double(s.dropLast()) else {
            throw ValidationError("--since must look like 30s, 10m, 2h or 1d")
        }
        return value * scale
    }

    func run() async throws {
        let api = try client.client()
        var sinceMs = Int64(0)
        if let since { sinceMs = Int64((Date().timeIntervalSince1970 - (try Self.parseDuration(since))) * 1000) }
        var seen = Set<String>()
        repeat {
            var query = [("since", String(sinceMs))]
            if let requestId { query.append(("requestId", requestId)) }
            let response = try await api.send("GET", "/hearth/functions/" + APIClient.encode(name) + "/logs", query: query).ok()
            for event in response.json?["events"] as? [[String: Any]] ?? [] {
                // An asynchronous event's retries share its request id: each attempt is its own entry.
                guard let id = event["requestId"] as? String else { continue }
                let key = "\(id)@\((event["timestamp"] as? NSNumber)?.int64Value ?? 0)"
                guard !seen.contains(key) else { continue }
                seen.insert(key)
                if let ts = event["timestamp"] as? Int64 { sinceMs = max(sinceMs, ts) }
                else if let ts = (event["timestamp"] as? NSNumber)?.int64Value { sinceMs = max(sinceMs, ts) }
                print(event["message"] as? String ?? "", terminator: "")
            }
            if follow { try await Task.sleep(for: .seconds(1)) }
        } while follow
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a function's asynchronous events: queued, running and failed, with attempts and next due time.")
    @OptionGroup var client: ClientOptions
    @Argument var name: String

    static func time(_ ms: Any?) -> String {
        guard let n = (ms as? NSNumber)?.doubleValue else { return "-" }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
        return f.string(from: Date(timeIntervalSince1970: n / 1000))
    }

    func run() async throws {
        let response = try await client.client().send("GET", "/hearth/functions/" + APIClient.encode(name) + "/events").ok()
        if client.json {
            FileHandle.standardOutput.write(response.body)
            print()
            return
        }
        let events = response.json?["Events"] as? [[String: Any]] ?? []
        print(["REQUEST ID", "STATE", "ATTEMPTS", "THROTTLES", "NEXT DUE", "ACCEPTED", "LAST ERROR"].joined(separator: "\t"))
        for event in events {
            let state = event["State"] as? String ?? ""
            let due = state == "available" ? Self.time(event["DueAt"]) : state == "leased" ? "running" : "-"
            print([event["RequestId"] as? String ?? "", state, "\(event["Attempts"] ?? 0)", "\(event["Throttles"] ?? 0)", due,
                   Self.time(event["CreatedAt"]), (event["LastError"] as? String ?? "").replacingOccurrences(of: "\n", with: " ")]
                .joined(separator: "\t"))
        }
    }
}

struct Layer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish, list, show or delete Lambda layers (zips extracted read-only under /opt).",
        discussion: """
            hearth layer publish NAME --zip-file ZIP|DIR [--description D] [--compatible-runtime R]...
            hearth layer list [NAME]        (all layers, or NAME's versions)
            hearth layer get NAME VERSION
            hearth layer delete NAME VERSION
            Use a version's ARN with `hearth create|update --layer ARN`.
            """)
    @OptionGroup var client: ClientOptions
    @Argument(help: "publish, list, get or delete") var action: String
    @Argument var name: String?
    @Argument var version: String?
    @Option(help: "Zip file or folder (publish).") var zipFile: String?
    @Option var description: String?
    @Option(name: .customLong("compatible-runtime")) var compatibleRuntimes: [String] = []
    @Option var licenseInfo: String?

    func run() async throws {
        let api = try client.client()
        func path(_ name: String) -> String { "/2018-10-31/layers/" + APIClient.encode(name) + "/versions" }
        switch action {
        case "publish":
            guard let name, let zipFile else { throw ValidationError("hearth layer publish NAME --zip-file ZIP|DIR") }
            var body: [String: Any] = ["Content": ["ZipFile": try zipData(zipFile).base64EncodedString()]]
            if let description { body["Description"] = description }
            if !compatibleRuntimes.isEmpty { body["CompatibleRuntimes"] = compatibleRuntimes }
            if let licenseInfo { body["LicenseInfo"] = licenseInfo }
            let response = try await api.send("POST", path(name), body: JSONSerialization.data(withJSONObject: body)).ok()
            if client.json { return printJSON(response.body) }
            let object = response.json ?? [:]
            print("LayerVersionArn: \(object["LayerVersionArn"] ?? "")\nVersion: \(object["Version"] ?? "")")
        case "list":
            if let name {
                let response = try await api.send("GET", path(name)).ok()
                if client.json { return printJSON(response.body) }
                let versions = response.json?["LayerVersions"] as? [[String: Any]] ?? []
                let rows = versions.map { v in ["Version", "CreatedDate", "Description", "LayerVersionArn"].map { "\(v[$0] ?? "")" } }
                print(table(rows, header: ["VERSION", "CREATED", "DESCRIPTION", "ARN"]), terminator: "")
            } else {
                let response = try await api.send("GET", "/2018-10-31/layers").ok()
                if client.json { return printJSON(response.body) }
                let layers = response.json?["Layers"] as? [[String: Any]] ?? []
                let rows = layers.map { l -> [String] in
                    let latest = l["LatestMatchingVersion"] as? [String: Any] ?? [:]
                    return ["\(l["LayerName"] ?? "")", "\(latest["Version"] ?? "")", "\(latest["LayerVersionArn"] ?? "")"]
                }
                print(table(rows, header: ["LAYER", "LATEST", "ARN"]), terminator: "")
            }
        case "get", "delete":
            guard let name, let version else { throw ValidationError("hearth layer \(action) NAME VERSION") }
            let response = try await api.send(action == "get" ? "GET" : "DELETE", path(name) + "/" + APIClient.encode(version)).ok()
            if action == "get" { return printJSON(response.body) }
            if !client.json { print("deleted \(name) version \(version)") }
        default:
            throw ValidationError("unknown action \(action): use publish, list, get or delete")
        }
    }
}

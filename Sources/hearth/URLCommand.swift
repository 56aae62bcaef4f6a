import ArgumentParser
import Foundation
import HearthServer

/// `hearth url NAME`: prints the function's URL, creating the Function URL config first when it
/// has none (`--auth-type`, default NONE; `--invoke-mode`, default BUFFERED); `--delete` removes it.
struct URLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "url", abstract: "Print a function's Function URL, creating it if it has none (or --delete it).")
    @OptionGroup var client: ClientOptions
    @Argument var name: String

    @Option(help: "An alias the URL invokes (default: the unqualified function, $LATEST).")
    var qualifier: String?

    @Option(name: .customLong("auth-type"), help: "NONE (public) or AWS_IAM (SigV4 for the service lambda), when creating.")
    var authType: String = "NONE"

    @Option(name: .customLong("invoke-mode"), help: "BUFFERED or RESPONSE_STREAM (the response streams to the client as the function writes it), when creating.")
    var invokeMode: String = "BUFFERED"

    @Flag(help: "Delete the function's URL instead.")
    var delete = false

    func validate() throws {
        guard ["NONE", "AWS_IAM"].contains(authType) else { throw ValidationError("--auth-type must be NONE or AWS_IAM") }
        guard ["BUFFERED", "RESPONSE_STREAM"].contains(invokeMode) else { throw ValidationError("--invoke-mode must be BUFFERED or RESPONSE_STREAM") }
    }

    func run() async throws {
        let api = try client.client()
        let path = "/2021-10-31/functions/" + APIClient.encode(name) + "/url"
        let query = qualifier.map { [("Qualifier", $0)] } ?? []
        if delete {
            _ = try await api.send("DELETE", path, query: query).ok()
            return
        }
        var response = try await api.send("GET", path, query: query)
        if response.status == 404, response.errorDescription.contains("The resource you requested does not exist") {
            response = try await api.send("POST", path, query: query, body: try JSONSerialization.data(withJSONObject: ["AuthType": authType, "InvokeMode": invokeMode])).ok()
        }
        response = try response.ok()
        if client.json {
            printJSON(response.body)
        } else {
            print(response.json?["FunctionUrl"] as? String ?? "")
        }
    }
}

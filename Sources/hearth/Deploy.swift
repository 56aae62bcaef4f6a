import ArgumentParser
import Foundation
import HearthDeploy
import HearthServer

/// The services this build of Hearth can deploy resources into.
let deployableServices: DeployServices = .all

/// `hearth deploy`: a SAM template as one named stack.
struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Deploy a SAM template (template.yaml) as one stack: functions, layers, aliases and their triggers.",
        discussion: """
        Changes only what changed (code by content hash), removes what left the template, rolls back
        a deploy that fails part-way, and prints the stack's Outputs. See `hearth stack` for the rest.
        """)

    @Option(name: .customLong("template-file"), help: "The template (YAML or JSON).") var templateFile: String = "template.yaml"
    @Option(name: .customLong("stack-name"), help: "The stack's name (default: the template folder's name).") var stackName: String?
    @Option(name: .customLong("parameter-overrides"), parsing: .upToNextOption, help: "Parameter values, KEY=VALUE …") var parameterOverrides: [String] = []
    @Flag(name: .customLong("dry-run"), help: "Print the change set (add / modify / remove, and why) and change nothing.") var dryRun = false
    @Flag(name: .customLong("no-build"), help: "Take CodeUri/ContentUri as they are (no pip install, no make).") var noBuild = false
    @Flag(name: .customLong("skip-unsupported"), help: "Deploy the rest when the template has resource types Hearth does not deploy.") var skipUnsupported = false
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let url = URL(fileURLWithPath: templateFile).standardizedFileURL
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw ValidationError("cannot read \(templateFile)") }
        var overrides: [String: String] = [:]
        for pair in parameterOverrides {
            // `--parameter-overrides K=V` and sam's `ParameterKey=K,ParameterValue=V` both.
            if pair.hasPrefix("ParameterKey="), let comma = pair.range(of: ",ParameterValue=") {
                overrides[String(pair[pair.index(pair.startIndex, offsetBy: 13)..<comma.lowerBound])] = String(pair[comma.upperBound...])
            } else if let eq = pair.firstIndex(of: "=") {
                overrides[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            } else {
                throw ValidationError("--parameter-overrides \(pair): expected KEY=VALUE")
            }
        }
        let name = stackName ?? url.deletingLastPathComponent().lastPathComponent.replacingOccurrences(of: "_", with: "-")
        let api = try client.client()
        let started = Date()
        do {
            let stack = try StackTemplate(template: Template(text: text), stackName: name, region: client.region, parameters: overrides,
                                          services: deployableServices, skipUnsupported: skipUnsupported)
            for warning in stack.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            let previous = try await StackDeployer.record(name, client: api)
            var options = StackDeployer.Options(templateDirectory: url.deletingLastPathComponent())
            options.dryRun = dryRun
            options.build = !noBuild
            let deployer = StackDeployer(client: api, stack: stack, previous: previous, options: options) { line in
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            let report = try await deployer.deploy()
            if dryRun {
                print("Change set for stack \(name)\(previous == nil ? " (new)" : ""):")
                for change in report.changes { print("  " + change.line) }
                return
            }
            let changed = report.changes.filter { $0.action != .keep }
            print("Stack \(name): \(report.record?.status ?? "?") in \(String(format: "%.2f", Date().timeIntervalSince(started))) s (\(changed.count) changed, \(report.changes.count - changed.count) unchanged)")
            for change in changed { print("  " + change.line) }
            if let outputs = report.record?.outputs, !outputs.isEmpty {
                print("Outputs:")
                for output in outputs { print("  \(output.key) = \(output.value)") }
            }
        } catch let error as TemplateError {
            throw ValidationError(error.message)
        } catch let error as StackDeployer.DeployFailure {
            FileHandle.standardError.write(Data("deploy of stack \(name) failed and was rolled back:\n\(error)\n".utf8))
            throw ExitCode(1)
        } catch let error as DeployError {
            throw ValidationError(error.message)
        }
    }
}

/// `hearth stack list | describe NAME | outputs NAME | delete NAME`.
struct StackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stack",
        abstract: "List, describe, show the outputs of, or delete stacks made by hearth deploy.")

    @Argument(help: "list | describe | outputs | delete") var action: String
    @Argument(help: "The stack's name.") var name: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let api = try client.client()
        switch action {
        case "list":
            let response = try await api.send("GET", "/hearth/stacks").ok()
            if client.json { printJSON(response.body); return }
            let stacks = (response.json?["Stacks"] as? [[String: Any]]) ?? []
            print(table(stacks.map { [$0["name"] as? String ?? "", $0["status"] as? String ?? "", $0["updatedAt"] as? String ?? "",
                                      String(($0["resources"] as? [String: Any])?.count ?? 0)] },
                        header: ["NAME", "STATUS", "UPDATED", "RESOURCES"]), terminator: "")
        case "describe", "outputs", "delete":
            guard let name else { throw ValidationError("hearth stack \(action) NAME") }
            guard var record = try await StackDeployer.record(name, client: api) else { throw ValidationError("Stack with id \(name) does not exist") }
            if action == "delete" {
                try await StackDeployer.delete(record, client: api) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
                print("Stack \(name) deleted")
                return
            }
            if action == "outputs" {
                if client.json {
                    printJSON(try JSONSerialization.data(withJSONObject: Dictionary(uniqueKeysWithValues: record.outputs.map { ($0.key, $0.value) })))
                } else {
                    for output in record.outputs { print("\(output.key)\t\(output.value)") }
                }
                return
            }
            for key in record.noEcho where record.parameters[key] != nil { record.parameters[key] = "****" }
            if client.json { printJSON(try JSONEncoder().encode(record)); return }
            print("Stack \(record.name): \(record.status)\(record.statusReason.map { " (\($0))" } ?? "")")
            print("Updated \(record.updatedAt), created \(record.createdAt)")
            if !record.parameters.isEmpty {
                print("Parameters:")
                for (key, value) in record.parameters.sorted(by: { $0.key < $1.key }) { print("  \(key) = \(value)") }
            }
            print("Resources:")
            print(table(record.order.compactMap { id in record.resources[id].map { [id, $0.type, $0.physicalID] } },
                        header: ["LOGICAL ID", "TYPE", "PHYSICAL ID"]), terminator: "")
            if !record.outputs.isEmpty {
                print("Outputs:")
                for output in record.outputs { print("  \(output.key) = \(output.value)") }
            }
        default:
            throw ValidationError("hearth stack list | describe NAME | outputs NAME | delete NAME")
        }
    }
}

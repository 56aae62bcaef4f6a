import Foundation
import HearthDeploy

/// Deploys a `StackTemplate` through the services' public APIs (the same ones the aws CLI uses),
/// resource by resource in dependency order, and keeps the stack's record on the server.
///
/// Only what changed is touched: a resource whose evaluated properties and artifact hashes
/// equal the record's is kept as it is (an unchanged function keeps its warm instances). A
/// failure part-way puts back what was already changed, newest first, as CloudFormation's
/// rollback does, and names the resource that failed and why.
public final class StackDeployer {
    public struct Options: Sendable {
        public var dryRun = false
        public var build = true
        /// Relative CodeUri/ContentUri/DefinitionUri are resolved against it.
        public var templateDirectory: URL
        public init(templateDirectory: URL) { self.templateDirectory = templateDirectory }
    }

    public struct Report: Sendable {
        public var changes: [ResourceChange]
        public var record: StackRecord?
        public var warnings: [String]
    }

    public struct DeployFailure: Error, CustomStringConvertible {
        public var logicalID: String
        public var reason: String
        public var rolledBack: [String]
        public var rollbackProblems: [String]
        public var description: String {
            var text = "Resource \(logicalID) failed: \(reason)"
            if !rolledBack.isEmpty { text += "\nRolled back: \(rolledBack.joined(separator: ", "))" }
            if !rollbackProblems.isEmpty { text += "\nRollback problems: \(rollbackProblems.joined(separator: "; "))" }
            return text
        }
    }

    let client: APIClient
    let stack: StackTemplate
    let previous: StackRecord?
    let options: Options
    let log: @Sendable (String) -> Void
    let artifacts: ArtifactBuilder
    /// Values of every resource known so far (recorded, predicted, or just made).
    var known: [String: ResourceValues]
    /// Resources done in this deploy, with what they were before (nil: added), for rollback.
    var done: [(id: String, before: RecordedResource?, after: RecordedResource)] = []
    var recorded: [String: RecordedResource] = [:]
    var implicitValues: [String: RecordedValues] = [:]

    public init(client: APIClient, stack: StackTemplate, previous: StackRecord?, options: Options, log: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.stack = stack
        self.previous = previous
        self.options = options
        self.log = log
        artifacts = ArtifactBuilder(base: options.templateDirectory, log: log)
        known = previous?.knownValues ?? [:]
    }

    /// Reads a stack's record from the server (nil if there is none).
    public static func record(_ name: String, client: APIClient) async throws -> StackRecord? {
        let response = try await client.send("GET", "/hearth/stacks/" + APIClient.encode(name))
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw DeployError(response.errorDescription) }
        return try JSONDecoder().decode(StackRecord.self, from: response.body)
    }

    public func deploy() async throws -> Report {
        var changes: [ResourceChange] = []
        let now = LambdaShapes.timestamp(Date())
        for resource in stack.resources {
            let properties = try stack.evaluatedProperties(resource, known: known)
            let hashes = try artifacts.hashes(resource, properties: properties)
            let change = ChangeSet.change(resource, properties: properties, artifacts: hashes, previous: previous?.resources[resource.logicalID])
            changes.append(change)
            if options.dryRun {
                predict(resource, properties: properties)
                continue
            }
            do {
                let after = try await apply(resource, properties: properties, artifacts: hashes, change: change)
                recorded[resource.logicalID] = after
                known[resource.logicalID] = after.values
                if change.action != .keep {
                    done.append((resource.logicalID, previous?.resources[resource.logicalID], after))
                    log("\(change.action == .add ? "created" : "updated") \(resource.logicalID) (\(resource.type))")
                }
            } catch {
                let reason = (error as? DeployError)?.message ?? "\(error)"
                throw await rollback(failed: resource.logicalID, reason: reason)
            }
        }
        let removals = ChangeSet.removals(previous: previous, keeping: Set(stack.resources.map(\.logicalID)))
        changes += removals
        if options.dryRun { return Report(changes: changes, record: nil, warnings: stack.warnings) }

        // Removals after everything new exists (a resource moved from one id to another keeps working).
        let removalOrder = (previous?.order ?? []).reversed().filter { id in removals.contains { $0.logicalID == id } }
        for id in removalOrder + removals.map(\.logicalID).filter({ !removalOrder.contains($0) }) {
            guard let old = previous?.resources[id] else { continue }
            do {
                try await delete(id, old)
                log("deleted \(id) (\(old.type))")
            } catch {
                log("warning: could not delete \(id): \(error)")
            }
        }
        let outputs = try stack.outputs(known: known).map { StackOutput(key: $0.name, value: Self.hearthURL($0.value, endpoint: client.endpoint), description: $0.description) }
        let record = StackRecord(
            name: stack.stackName, status: previous == nil ? "CREATE_COMPLETE" : "UPDATE_COMPLETE", createdAt: previous?.createdAt ?? now,
            updatedAt: now, description: stack.template.description, parameters: parameterTexts(),
            noEcho: stack.template.parameters.filter(\.noEcho).map(\.name), resources: recorded, implicitValues: implicitValues,
            outputs: outputs, order: stack.resources.map(\.logicalID))
        try await save(record)
        return Report(changes: changes, record: record, warnings: stack.warnings)
    }

    /// Deletes every resource of a stack (newest first) and its record.
    public static func delete(_ record: StackRecord, client: APIClient, log: @escaping @Sendable (String) -> Void) async throws {
        let deployer = StackDeployer(client: client, stack: try StackTemplate.empty(name: record.name), previous: record,
                                     options: Options(templateDirectory: URL(fileURLWithPath: "/")), log: log)
        var problems: [String] = []
        let order = record.order.reversed() + record.resources.keys.sorted().filter { !record.order.contains($0) }
        for id in order {
            guard let resource = record.resources[id] else { continue }
            do {
                try await deployer.delete(id, resource)
                log("deleted \(id) (\(resource.type))")
            } catch {
                problems.append("\(id): \(error)")
            }
        }
        if !problems.isEmpty { throw DeployError("stack \(record.name) was not deleted completely: \(problems.joined(separator: "; "))") }
        let response = try await client.send("DELETE", "/hearth/stacks/" + APIClient.encode(record.name))
        guard response.status == 204 || response.status == 404 else { throw DeployError(response.errorDescription) }
    }

    func save(_ record: StackRecord) async throws {
        let response = try await client.send("PUT", "/hearth/stacks/" + APIClient.encode(record.name), body: try JSONEncoder().encode(record))
        guard response.status == 200 else { throw DeployError("saving the stack record: \(response.errorDescription)") }
    }

    func parameterTexts() -> [String: String] {
        stack.context.parameters.mapValues { $0.listValue?.compactMap(\.stringValue).joined(separator: ",") ?? $0.stringValue ?? $0.canonicalJSON }
    }

    /// Puts back what this deploy changed, newest first, and keeps the previous record.
    func rollback(failed id: String, reason: String) async -> DeployFailure {
        log("\(id) failed: \(reason); rolling back")
        var rolledBack: [String] = []
        var problems: [String] = []
        for (doneID, before, after) in done.reversed() {
            do {
                if let before {
                    try await restore(doneID, before: before, after: after)
                } else {
                    try await delete(doneID, after)
                }
                rolledBack.append(doneID)
                log("rolled back \(doneID)")
            } catch {
                problems.append("\(doneID): \(error)")
            }
        }
        if var record = previous {
            record.status = "UPDATE_ROLLBACK_COMPLETE"
            record.statusReason = "Resource \(id) failed: \(reason)"
            record.updatedAt = LambdaShapes.timestamp(Date())
            try? await save(record)
        }
        return DeployFailure(logicalID: id, reason: reason, rolledBack: rolledBack, rollbackProblems: problems)
    }

    /// Values the planner can name without the service (for a dry run's later references).
    func predict(_ resource: StackResource, properties: TemplateMap) {
        if let values = ResourceNames.predicted(resource, properties: properties, stack: stack.stackName, region: stack.region,
                                                endpoint: client.endpoint) {
            known[resource.logicalID] = values
        }
    }

    /// `https://ID.execute-api.REGION.amazonaws.com/…` and Function URLs in outputs point at Hearth.
    static func hearthURL(_ value: String, endpoint: URL) -> String {
        let port = endpoint.port.map { ":\($0)" } ?? ""
        var text = value
        for (service, local) in [("execute-api", "execute-api"), ("lambda-url", "lambda-url")] {
            let pattern = "https://([a-z0-9]+)\\.\(service)\\.([a-z0-9-]+)\\.(amazonaws\\.com|on\\.aws)"
            let replacement = service == "lambda-url" ? "http://$1.\(local).$2.localhost\(port)" : "http://$1.\(local).localhost\(port)"
            text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return text
    }
}

public struct DeployError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension APIClient {
    /// The same client signing for another service (`scheduler`, `sqs`, `states`, `apigateway`).
    /// Without credentials (a server run with `--auth none`) the request is still signed, with
    /// placeholder keys, because the credential scope is how the shared listener tells rest-json
    /// services apart.
    func signing(for service: String) -> APIClient {
        var copy = self
        if copy.signer == nil {
            copy.signer = SigV4Signer(credentials: AWSCredentials(accessKeyID: "HEARTHUNSIGNED", secretAccessKey: "unsigned"),
                                      region: region, service: service)
        }
        copy.signer?.service = service
        return copy
    }

    /// Sends a JSON body and returns the JSON answer, or throws the service's error.
    func call(_ method: String, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
              json body: [String: Any]? = nil, accept: Set<Int> = []) async throws -> [String: Any] {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) } ?? Data()
        let response = try await send(method, path, query: query, headers: headers, body: data)
        guard (200..<300).contains(response.status) || accept.contains(response.status) else {
            throw DeployError("\(method) \(path): \(response.errorDescription)")
        }
        return response.json ?? [:]
    }
}

extension StackTemplate {
    /// A stack with no resources: what deleting needs (only the record's names are used).
    static func empty(name: String) throws -> StackTemplate {
        try StackTemplate(template: Template(text: "Resources:\n  Placeholder: {Type: AWS::Lambda::Permission}"), stackName: name, region: "us-east-1")
    }
}

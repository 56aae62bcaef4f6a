// HearthDeploy: the names and ARNs a stack's resources get (ADR 0017).

import Foundation

public enum ResourceNames {
    public static let account = "000000000000"

    /// The name a resource gets: its own name property, or `STACK-LogicalId` (cut to the limit).
    public static func physicalName(_ resource: StackResource, properties: TemplateMap, stack: String) -> String {
        switch resource.kind {
        case .function: return properties["FunctionName"]?.stringValue ?? PhysicalName.make(stack: stack, logicalID: resource.logicalID)
        // SAM names a layer after its logical id unless LayerName says otherwise.
        case .layer: return properties["LayerName"]?.stringValue ?? resource.logicalID
        case .queue: return properties["QueueName"]?.stringValue ?? PhysicalName.make(stack: stack, logicalID: resource.logicalID, limit: 80)
        case .schedule: return properties["Name"]?.stringValue ?? PhysicalName.make(stack: stack, logicalID: resource.logicalID)
        case .stateMachine: return properties["Name"]?.stringValue ?? PhysicalName.make(stack: stack, logicalID: resource.logicalID, limit: 80)
        default: return PhysicalName.make(stack: stack, logicalID: resource.logicalID)
        }
    }

    public static func functionARN(_ name: String, region: String, qualifier: String? = nil) -> String {
        "arn:aws:lambda:\(region):\(account):function:\(name)" + (qualifier.map { ":" + $0 } ?? "")
    }

    public static func roleARN(_ name: String) -> String { "arn:aws:iam::\(account):role/\(name)" }

    /// The values of a resource known before it exists, where the name decides them.
    public static func predicted(_ resource: StackResource, properties: TemplateMap, stack: String, region: String, endpoint: URL) -> ResourceValues? {
        let name = physicalName(resource, properties: properties, stack: stack)
        switch resource.kind {
        case .function:
            return ResourceValues(ref: name, attributes: ["Arn": .string(functionARN(name, region: region))])
        case .queue:
            let url = endpoint.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/\(account)/\(name)"
            return ResourceValues(ref: url, attributes: [
                "Arn": .string("arn:aws:sqs:\(region):\(account):\(name)"), "QueueName": .string(name), "QueueUrl": .string(url),
            ])
        case .schedule:
            let group = properties["GroupName"]?.stringValue ?? "default"
            return ResourceValues(ref: name, attributes: ["Arn": .string("arn:aws:scheduler:\(region):\(account):schedule/\(group)/\(name)")])
        case .stateMachine:
            let arn = "arn:aws:states:\(region):\(account):stateMachine:\(name)"
            return ResourceValues(ref: arn, attributes: ["Arn": .string(arn), "Name": .string(name)])
        case .iam:
            return ResourceValues(ref: name, attributes: ["Arn": .string(roleARN(name)), "RoleId": .string(name)])
        case .permission, .eventInvokeConfig:
            return ResourceValues(ref: name)
        default:
            return nil
        }
    }
}

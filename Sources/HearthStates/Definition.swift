// HearthStates: a state machine definition (Amazon States Language, JSONPath), parsed and
// validated into an immutable program. Pure.

/// A validated state machine: its top-level branch and options. Immutable; built only by
/// `StateMachine.parse`, which refuses what Step Functions refuses.
public struct StateMachine: Sendable, Equatable {
    public var root: Branch
    public var comment: String?
    /// The execution's own timeout (`States.Timeout`, `ExecutionTimedOut`).
    public var timeoutSeconds: Int?
    /// Every state by name (names are unique across the machine, branches included).
    public var allStates: [String: State]

    /// The states that use the `.waitForTaskToken` pattern (by name, sorted): an Express machine may have none.
    public var callbackStates: [String] {
        allStates.values.filter { if case .task(_, true, _, _, _) = $0.kind { return true } else { return false } }.map(\.name).sorted()
    }

    /// The states that run an activity, by name, sorted: an Express machine may have none.
    public var activityStates: [String] {
        allStates.values.filter { if case .task(let r, _, _, _, _) = $0.kind { return r.isActivity } else { return false } }.map(\.name).sorted()
    }

    /// The Map states in DISTRIBUTED mode, by name, sorted: an Express machine may have none
    /// (their children are durable executions the parent waits for, ADR 0030).
    public var distributedMapStates: [String] {
        allStates.values.filter { $0.distributed != nil }.map(\.name).sorted()
    }

    /// The states that run a child execution to its end (`states:startExecution.sync[:2]`), by
    /// name, sorted: an Express machine may have none.
    public var syncStates: [String] {
        allStates.values.filter { if case .task(let r, _, _, _, _) = $0.kind { return r.isSync } else { return false } }.map(\.name).sorted()
    }
}

/// `StartAt` and `States`: the top level, a Parallel branch or a Map iteration's processor.
public struct Branch: Sendable, Equatable {
    public var startAt: String
    public var states: [String: State]
}

/// Where a state goes next.
public enum Transition: Sendable, Equatable {
    case next(String)
    case end
}

/// How a path field was given: absent (the default `$`), `null`, or a path.
public enum PathField: Sendable, Equatable {
    case absent
    case null
    case path(JSONPath)
}

public struct Retrier: Sendable, Equatable {
    public var errorEquals: [String]
    public var intervalSeconds: Double = 1
    public var maxAttempts: Int = 3
    public var backoffRate: Double = 2
    public var maxDelaySeconds: Double?
    public var jitterFull = false
}

public struct Catcher: Sendable, Equatable {
    public var errorEquals: [String]
    public var next: String
    public var resultPath: PathField = .absent
}

/// A Task's resource, in the forms Hearth runs.
public enum TaskResource: Sendable, Equatable {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`: the result is the function's return.
    case lambdaFunction(arn: String)
    /// `arn:aws:states:::lambda:invoke`: Parameters name the function; the result is Invoke's envelope.
    case lambdaInvoke
    /// `arn:aws:states:::sqs:sendMessage`: Parameters are SendMessage's (`QueueUrl`, `MessageBody`,
    /// `MessageAttributes`, `DelaySeconds`); the result is SendMessage's response.
    case sqsSendMessage
    /// `arn:aws:states:::states:startExecution[.sync|.sync:2]`: Parameters are StartExecution's
    /// (`StateMachineArn`, `Input`, `Name`); the result is StartExecution's response, or (`.sync`,
    /// `.sync:2`) the child's DescribeExecution once it has ended.
    case statesStartExecution(StartExecutionPattern)
    /// `arn:aws:states:REGION:ACCOUNT:activity:NAME`: a worker takes the task (GetActivityTask)
    /// and answers with its token (ADR 0028); the result is the worker's output.
    case activity(arn: String)
    /// One child execution of a distributed Map's Map Run (ADR 0030): no Resource of its own;
    /// the driver starts the child (its input is the task's parameters) and the task ends with
    /// the child's end, as a `.sync` task's does.
    case mapRunChild(MapRunChild)

    public var isActivity: Bool { if case .activity = self { return true } else { return false } }

    /// The history events' `resourceType` and `resource` (the Resource ARN's service and API,
    /// with the `.waitForTaskToken` / `.sync` suffix), as AWS names them.
    public func eventNames(callback: Bool) -> (type: String, resource: String) {
        let suffix = callback ? ".waitForTaskToken" : ""
        switch self {
        case .lambdaFunction, .lambdaInvoke: return ("lambda", "invoke" + suffix)
        case .sqsSendMessage: return ("sqs", "sendMessage" + suffix)
        case .statesStartExecution(let pattern): return ("states", "startExecution" + (pattern == .requestResponse ? suffix : pattern.rawValue))
        case .activity(let arn): return ("activity", arn)
        case .mapRunChild: return ("states", "mapRun")
        }
    }

    /// A task that, once its request is made (`taskSubmitted`), waits for a child execution to end.
    public var isSync: Bool {
        if case .statesStartExecution(let p) = self { return p != .requestResponse }
        if case .mapRunChild = self { return true }
        return false
    }

    public var isMapRunChild: Bool { if case .mapRunChild = self { return true } else { return false } }
}

/// A distributed Map's child execution, as its task carries it: the Map Run, the child's
/// machine (`…:stateMachine:MACHINE/LABEL`), its definition (the ItemProcessor), its type, its
/// index among the children and how many items it processes (a batch's size).
public struct MapRunChild: Sendable, Equatable {
    public var mapRunArn: String
    public var stateMachineArn: String
    public var definition: String
    public var executionType: String
    public var index: Int
    public var items: Int

    public init(mapRunArn: String, stateMachineArn: String, definition: String, executionType: String, index: Int, items: Int) {
        (self.mapRunArn, self.stateMachineArn, self.definition, self.executionType, self.index, self.items) =
            (mapRunArn, stateMachineArn, definition, executionType, index, items)
    }
}

/// A value given literally or by a path, where the value may be a fraction (`ToleratedFailurePercentage`).
public enum NumberSource: Sendable, Equatable {
    case value(Double)
    case path(JSONPath)
}

/// `ItemBatcher`: children get `{"Items": [...], "BatchInput": ...}` of at most so many items and bytes.
public struct ItemBatcher: Sendable, Equatable {
    public var maxItems: IntSource?
    public var maxBytes: IntSource?
    public var batchInput: Template?
}

/// What makes a Map state DISTRIBUTED (ADR 0030): each item (or batch) runs as a child
/// execution of the ItemProcessor (`definition`, a machine of its own) in a Map Run.
public struct DistributedMap: Sendable, Equatable {
    /// STANDARD or EXPRESS (both run as durable child executions in Hearth).
    public var executionType: String
    public var label: String?
    /// The ItemProcessor without its ProcessorConfig, as a definition text.
    public var definition: String
    public var batcher: ItemBatcher?
    public var toleratedFailureCount: IntSource?
    public var toleratedFailurePercentage: NumberSource?
}

/// How a `states:startExecution` task waits: not at all, or for the child's end with its
/// output as a JSON string (`.sync`) or as JSON (`.sync:2`).
public enum StartExecutionPattern: String, Sendable, Equatable {
    case requestResponse = ""
    case sync = ".sync"
    case sync2 = ".sync:2"
}

public indirect enum ChoiceRule: Sendable, Equatable {
    case and([ChoiceRule])
    case or([ChoiceRule])
    case not(ChoiceRule)
    /// `Variable` with one comparison: the operator's name and its operand (a literal, or a
    /// path for the `…Path` forms).
    case compare(variable: JSONPath, op: String, operand: JSON, operandPath: JSONPath?)
}

public struct ChoiceBranch: Sendable, Equatable {
    public var rule: ChoiceRule
    public var next: String
}

public enum WaitSpec: Sendable, Equatable {
    case seconds(Int64)
    case timestamp(Int64)
    case secondsPath(JSONPath)
    case timestampPath(JSONPath)
}

/// A value given literally or by a path (`TimeoutSeconds`/`TimeoutSecondsPath`, …).
public enum IntSource: Sendable, Equatable {
    case value(Int64)
    case path(JSONPath)
}

public enum StateKind: Sendable, Equatable {
    case pass(result: JSON?)
    /// `callback`: the `.waitForTaskToken` pattern (the task ends with SendTaskSuccess/Failure).
    case task(resource: TaskResource, callback: Bool, resourceText: String, timeout: IntSource?, heartbeat: IntSource?)
    case choice(choices: [ChoiceBranch], defaultNext: String?)
    case wait(WaitSpec)
    case succeed
    case fail(error: String?, cause: String?, errorPath: Template?, causePath: Template?)
    case parallel(branches: [Branch])
    case map(processor: Branch, itemsPath: JSONPath?, itemSelector: Template?, maxConcurrency: IntSource?)
}

/// One state, its data-flow fields and its kind.
public struct State: Sendable, Equatable {
    public var name: String
    public var type: String
    public var kind: StateKind
    public var transition: Transition?
    public var inputPath: PathField = .absent
    public var outputPath: PathField = .absent
    public var resultPath: PathField = .absent
    public var parameters: Template?
    public var resultSelector: Template?
    public var retry: [Retrier] = []
    public var catchers: [Catcher] = []
    /// A Map state in DISTRIBUTED mode: how its children run.
    public var distributed: DistributedMap?
}

// MARK: parsing and validation

extension StateMachine {
    public static let stateTypes = ["Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"]

    /// Parses and validates definition text. Throws `InvalidDefinition` with every diagnostic.
    public static func parse(_ text: String) throws(InvalidDefinition) -> StateMachine {
        let json: JSON
        do { json = try JSON.parse(text) } catch {
            throw InvalidDefinition(diagnostics: [Diagnostic(code: "INVALID_JSON_DESCRIPTION", message: "Unexpected character at offset \(error.offset): \(error.message)", location: "/")])
        }
        var v = Validator()
        let machine = v.machine(json)
        if !v.diagnostics.isEmpty || machine == nil { throw InvalidDefinition(diagnostics: v.diagnostics) }
        return machine!
    }
}

struct Validator {
    var diagnostics: [Diagnostic] = []
    var names: [String: String] = [:]   // state name → location (uniqueness across the machine)
    var labels: [String: String] = [:]  // distributed Map label → location (unique in a definition)
    var all: [String: State] = [:]

    mutating func fail(_ code: String, _ message: String, _ location: String) {
        diagnostics.append(Diagnostic(code: code, message: message, location: location))
    }

    mutating func error(_ message: String, _ location: String) {
        fail("SCHEMA_VALIDATION_FAILED", message, location)
    }

    static let jsonataOnly = ["Arguments", "Output", "Assign", "QueryLanguage", "Items", "Condition"]

    mutating func machine(_ json: JSON) -> StateMachine? {
        guard case .object(let top) = json else {
            error("Definition must be a valid JSON object", "/")
            return nil
        }
        var timeout: Int?
        for key in top.keys {
            switch key {
            case "StartAt", "States", "Comment", "Version": break
            case "TimeoutSeconds":
                if let n = top[key]?.intValue, n > 0, n <= 99_999_999 { timeout = Int(n) } else { error("Expected value of type Integer, greater than 0, at most 99999999", "/TimeoutSeconds") }
            case "QueryLanguage":
                if top[key] == .string("JSONPath") { break }
                if top[key] == .string("JSONata") {
                    error("The QueryLanguage 'JSONata' is not supported by Hearth yet (JSONPath only)", "/QueryLanguage")
                } else {
                    error("Value is not one of [JSONPath, JSONata]", "/QueryLanguage")
                }
            default:
                error("The field \"\(key)\" is not supported by Step Functions", "/")
            }
        }
        if let version = top["Version"], version != .string("1.0") { error("The value for the field 'Version' must be '1.0'", "/Version") }
        if let comment = top["Comment"], comment.stringValue == nil { error("Expected value of type String", "/Comment") }
        guard let branch = branch(top, at: "") else { return nil }
        return StateMachine(root: branch, comment: top["Comment"]?.stringValue, timeoutSeconds: timeout, allStates: all)
    }

    /// A `StartAt`/`States` pair at `location` ("" for the top level).
    mutating func branch(_ o: JSONObject, at location: String) -> Branch? {
        var missing: [String] = []
        if o["States"] == nil { missing.append("States") }
        if o["StartAt"] == nil { missing.append("StartAt") }
        if !missing.isEmpty {
            error("These fields are required: [\(missing.joined(separator: ", "))]", location.isEmpty ? "/" : location)
            return nil
        }
        guard case .string(let startAt) = o["StartAt"]! else {
            error("Expected value of type String", location + "/StartAt")
            return nil
        }
        guard case .object(let statesObject) = o["States"]! else {
            error("Expected value of type Object", location + "/States")
            return nil
        }
        if statesObject.isEmpty { error("At least one state is required", location + "/States") }
        var states: [String: State] = [:]
        for (name, value) in statesObject.pairs {
            let at = location + "/States/" + name
            if name.isEmpty || name.count > 80 { error("State names must be 1 to 80 characters", at) }
            if let previous = names[name] {
                fail("DUPLICATE_STATE_NAME", "Duplicate State name: \(name) (also at \(previous))", at)
            }
            names[name] = at
            if let state = self.state(name, value, at: at) {
                states[name] = state
                all[name] = state
            }
        }
        if !statesObject.isEmpty, statesObject[startAt] == nil {
            fail("MISSING_TRANSITION_TARGET", "Missing 'Next' target: \(startAt)", location + "/StartAt")
        }
        // Transitions stay within the branch; every state is reachable from StartAt.
        for name in statesObject.keys {
            guard let state = states[name] else { continue }
            let at = location + "/States/" + name
            var targets: [(String, String)] = []
            if case .next(let n) = state.transition { targets.append((n, at + "/Next")) }
            if case .choice(let choices, let dflt) = state.kind {
                for (k, c) in choices.enumerated() { targets.append((c.next, at + "/Choices[\(k)]/Next")) }
                if let dflt { targets.append((dflt, at + "/Default")) }
            }
            for (k, c) in state.catchers.enumerated() { targets.append((c.next, at + "/Catch[\(k)]/Next")) }
            for (target, where_) in targets where statesObject[target] == nil {
                fail("MISSING_TRANSITION_TARGET", "Missing 'Next' target: \(target)", where_)
            }
        }
        if statesObject[startAt] != nil {
            var seen: Set<String> = [startAt]
            var queue = [startAt]
            while let name = queue.popLast() {
                guard let state = states[name] else { continue }
                var out: [String] = state.catchers.map(\.next)
                if case .next(let n) = state.transition { out.append(n) }
                if case .choice(let choices, let dflt) = state.kind { out += choices.map(\.next) + (dflt.map { [$0] } ?? []) }
                for n in out where !seen.contains(n) && statesObject[n] != nil {
                    seen.insert(n)
                    queue.append(n)
                }
            }
            for name in statesObject.keys where !seen.contains(name) {
                fail("UNREACHABLE_STATE", "State \"\(name)\" is not reachable.", location + "/States/" + name)
            }
        }
        return Branch(startAt: startAt, states: states)
    }

    static let common: Set<String> = ["Type", "Comment"]
    static let allowed: [String: Set<String>] = [
        "Pass": ["Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result"],
        "Task": ["Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Resource",
                 "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials"],
        "Choice": ["InputPath", "OutputPath", "Choices", "Default"],
        "Wait": ["Next", "End", "InputPath", "OutputPath", "Seconds", "Timestamp", "SecondsPath", "TimestampPath"],
        "Succeed": ["InputPath", "OutputPath"],
        "Fail": ["Error", "Cause", "ErrorPath", "CausePath"],
        "Parallel": ["Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Branches"],
        "Map": ["Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "ItemProcessor",
                "Iterator", "ItemsPath", "ItemSelector", "MaxConcurrency", "MaxConcurrencyPath", "Label", "ItemReader", "ResultWriter",
                "ItemBatcher", "ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath"],
    ]

    mutating func pathField(_ o: JSONObject, _ key: String, _ at: String) -> PathField {
        guard let v = o[key] else { return .absent }
        if v == .null { return .null }
        guard case .string(let s) = v, let p = try? JSONPath(s) else {
            error("The value for the field '\(key)' must be a valid JSONPath", at + "/" + key)
            return .absent
        }
        if p.root == .context && key == "ResultPath" {
            error("The value for the field '\(key)' must be a valid Reference Path", at + "/" + key)
        }
        if key == "ResultPath", p.definiteSteps == nil {
            error("The value for the field '\(key)' must be a valid Reference Path", at + "/" + key)
        }
        return .path(p)
    }

    mutating func path(_ o: JSONObject, _ key: String, _ at: String) -> JSONPath? {
        guard let v = o[key] else { return nil }
        guard case .string(let s) = v, let p = try? JSONPath(s) else {
            error("The value for the field '\(key)' must be a valid JSONPath", at + "/" + key)
            return nil
        }
        return p
    }

    mutating func intSource(_ o: JSONObject, _ key: String, minimum: Int64, _ at: String) -> IntSource? {
        if let v = o[key] {
            guard let n = v.intValue, v.isNumber, n >= minimum, n <= 99_999_999 else {
                error("Expected value of type Integer, at least \(minimum)", at + "/" + key)
                return nil
            }
            if o[key + "Path"] != nil { error("These fields are mutually exclusive: [\(key), \(key)Path]", at) }
            return .value(n)
        }
        return path(o, key + "Path", at).map { .path($0) }
    }

    mutating func template(_ o: JSONObject, _ key: String, _ at: String) -> Template? {
        guard let v = o[key] else { return nil }
        return Template.compile(v, at: at + "/" + key, into: &diagnostics)
    }

    mutating func state(_ name: String, _ json: JSON, at: String) -> State? {
        guard case .object(let o) = json else {
            error("Expected value of type Object", at)
            return nil
        }
        guard let typeValue = o["Type"] else {
            error("These fields are required: [Type]", at)
            return nil
        }
        guard case .string(let type) = typeValue, let allowed = Self.allowed[type] else {
            error("The value for the field 'Type' must be one of [\(StateMachine.stateTypes.joined(separator: ", "))]", at + "/Type")
            return nil
        }
        for key in o.keys where !Self.common.contains(key) && !allowed.contains(key) {
            if Self.jsonataOnly.contains(key) {
                error("The field \"\(key)\" is not supported by Hearth yet: JSONata and variables are not (JSONPath only)", at)
            } else {
                error("The field \"\(key)\" is not supported by Step Functions", at)
            }
        }
        var state = State(name: name, type: type, kind: .succeed)
        // Transitions.
        if allowed.contains("Next") {
            let next = o["Next"], end = o["End"]
            if let next, end == .bool(true) {
                _ = next
                error("These fields are mutually exclusive: [Next, End]", at)
            } else if let next {
                if case .string(let n) = next { state.transition = .next(n) } else { error("Expected value of type String", at + "/Next") }
            } else if end == .bool(true) {
                state.transition = .end
            } else if let end, end.boolValue == nil {
                error("Expected value of type Boolean", at + "/End")
            } else {
                error("These fields are required: [Next or End]", at)
            }
        }
        state.inputPath = pathField(o, "InputPath", at)
        state.outputPath = pathField(o, "OutputPath", at)
        if allowed.contains("ResultPath") { state.resultPath = pathField(o, "ResultPath", at) }
        if allowed.contains("Parameters") { state.parameters = template(o, "Parameters", at) }
        if allowed.contains("ResultSelector") { state.resultSelector = template(o, "ResultSelector", at) }
        if allowed.contains("Retry") { state.retry = retriers(o["Retry"], at + "/Retry") }
        if allowed.contains("Catch") { state.catchers = catchers(o["Catch"], at + "/Catch") }

        switch type {
        case "Pass":
            state.kind = .pass(result: o["Result"])
        case "Task":
            guard let resourceValue = o["Resource"] else {
                error("These fields are required: [Resource]", at)
                return state
            }
            guard case .string(let resource) = resourceValue else {
                error("Expected value of type String", at + "/Resource")
                return state
            }
            let timeout = intSource(o, "TimeoutSeconds", minimum: 1, at)
            let heartbeat = intSource(o, "HeartbeatSeconds", minimum: 1, at)
            if case .value(let t) = timeout, case .value(let h) = heartbeat, h >= t {
                error("HeartbeatSeconds must be smaller than TimeoutSeconds", at + "/HeartbeatSeconds")
            }
            let kind: TaskResource
            var callback = false
            var base = resource
            if resource.hasSuffix(".waitForTaskToken"), resource.hasPrefix("arn:aws:states:::") {
                callback = true
                base = String(resource.dropLast(".waitForTaskToken".count))
            }
            let fields = o["Parameters"]?.objectValue
            func require(_ field: String) {
                if fields?[field] == nil && fields?[field + ".$"] == nil {
                    error("The field '\(field)' is required but was missing", at + "/Parameters")
                }
            }
            if base == "arn:aws:states:::lambda:invoke" {
                kind = .lambdaInvoke
                require("FunctionName")
            } else if base == "arn:aws:states:::sqs:sendMessage" {
                kind = .sqsSendMessage
                require("QueueUrl")
                require("MessageBody")
            } else if let pattern = Self.startExecutionPattern(base), !(callback && pattern != .requestResponse) {
                kind = .statesStartExecution(pattern)
                require("StateMachineArn")
            } else if !callback, Self.isLambdaARN(resource) {
                kind = .lambdaFunction(arn: resource)
            } else if !callback, Self.isActivityARN(resource) {
                kind = .activity(arn: resource)
            } else if resource.hasPrefix("arn:aws:states:::") || resource.contains(":activity:") || resource.hasPrefix("arn:aws:states:") {
                fail("INVALID_RESOURCE", "The resource '\(resource)' is not supported by Hearth yet (a function ARN, an activity ARN, arn:aws:states:::lambda:invoke, arn:aws:states:::sqs:sendMessage or arn:aws:states:::states:startExecution, each also with .waitForTaskToken, and the last with .sync or .sync:2)", at + "/Resource")
                return state
            } else {
                fail("INVALID_RESOURCE", "Resource is not a valid ARN: '\(resource)'", at + "/Resource")
                return state
            }
            if callback, !Self.referencesTaskToken(o["Parameters"]) {
                error(Self.missingTaskTokenMessage, at + "/Parameters")
            }
            state.kind = .task(resource: kind, callback: callback, resourceText: resource, timeout: timeout, heartbeat: heartbeat)
        case "Choice":
            guard case .array(let list)? = o["Choices"] else {
                if o["Choices"] == nil { error("These fields are required: [Choices]", at) } else { error("Expected value of type Array", at + "/Choices") }
                return state
            }
            if list.isEmpty { error("At least one choice rule is required", at + "/Choices") }
            var branches: [ChoiceBranch] = []
            for (k, item) in list.enumerated() {
                let where_ = at + "/Choices[\(k)]"
                guard case .object(let r) = item else { error("Expected value of type Object", where_); continue }
                guard case .string(let next)? = r["Next"] else { error("These fields are required: [Next]", where_); continue }
                if let rule = choiceRule(r, where_, top: true) { branches.append(ChoiceBranch(rule: rule, next: next)) }
            }
            var dflt: String?
            if let d = o["Default"] { if case .string(let s) = d { dflt = s } else { error("Expected value of type String", at + "/Default") } }
            state.kind = .choice(choices: branches, defaultNext: dflt)
        case "Wait":
            let given = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"].filter { o[$0] != nil }
            guard given.count == 1 else {
                error(given.isEmpty ? "These fields are required: [Seconds, Timestamp, SecondsPath, TimestampPath] (exactly one)" : "These fields are mutually exclusive: [\(given.joined(separator: ", "))]", at)
                return state
            }
            switch given[0] {
            case "Seconds":
                guard let n = o["Seconds"]!.intValue, o["Seconds"]!.isNumber, n >= 0, n <= 99_999_999 else {
                    error("Expected value of type Integer, at least 0", at + "/Seconds")
                    return state
                }
                state.kind = .wait(.seconds(n))
            case "Timestamp":
                guard case .string(let s) = o["Timestamp"]!, let ms = Timestamp.parse(s) else {
                    error("The value for the field 'Timestamp' must be a valid RFC3339 timestamp", at + "/Timestamp")
                    return state
                }
                state.kind = .wait(.timestamp(ms))
            case "SecondsPath":
                guard let p = path(o, "SecondsPath", at) else { return state }
                state.kind = .wait(.secondsPath(p))
            default:
                guard let p = path(o, "TimestampPath", at) else { return state }
                state.kind = .wait(.timestampPath(p))
            }
        case "Succeed":
            state.kind = .succeed
        case "Fail":
            for key in ["Error", "Cause"] where o[key] != nil && o[key]!.stringValue == nil { error("Expected value of type String", at + "/" + key) }
            for key in ["Error", "Cause"] where o[key] != nil && o[key + "Path"] != nil { error("These fields are mutually exclusive: [\(key), \(key)Path]", at) }
            func dynamic(_ key: String) -> Template? {
                guard let v = o[key] else { return nil }
                guard case .string(let s) = v else {
                    error("Expected value of type String", at + "/" + key)
                    return nil
                }
                if Intrinsic.looksLikeCall(s) {
                    guard let call = try? Intrinsic(parsing: s) else {
                        error("The value for the field '\(key)' must be a valid JSONPath or a valid intrinsic function call", at + "/" + key)
                        return nil
                    }
                    return .call(call, field: key)
                }
                guard let p = try? JSONPath(s) else {
                    error("The value for the field '\(key)' must be a valid JSONPath or a valid intrinsic function call", at + "/" + key)
                    return nil
                }
                return .path(p, field: key)
            }
            state.kind = .fail(error: o["Error"]?.stringValue, cause: o["Cause"]?.stringValue, errorPath: dynamic("ErrorPath"), causePath: dynamic("CausePath"))
        case "Parallel":
            guard case .array(let list)? = o["Branches"] else {
                if o["Branches"] == nil { error("These fields are required: [Branches]", at) } else { error("Expected value of type Array", at + "/Branches") }
                return state
            }
            var branches: [Branch] = []
            for (k, item) in list.enumerated() {
                guard case .object(let b) = item else { error("Expected value of type Object", at + "/Branches[\(k)]"); continue }
                for key in b.keys where !["StartAt", "States", "Comment"].contains(key) {
                    error("The field \"\(key)\" is not supported by Step Functions", at + "/Branches[\(k)]")
                }
                if let branch = branch(b, at: at + "/Branches[\(k)]") { branches.append(branch) }
            }
            state.kind = .parallel(branches: branches)
        default:  // Map
            for key in ["ItemReader", "ResultWriter"] where o[key] != nil {
                error("The field \"\(key)\" is not supported by Hearth yet: it needs an object store (S3)", at)
            }
            if o["ItemProcessor"] != nil && o["Iterator"] != nil { error("These fields are mutually exclusive: [ItemProcessor, Iterator]", at) }
            if o["ItemSelector"] != nil && o["Parameters"] != nil { error("These fields are mutually exclusive: [ItemSelector, Parameters]", at) }
            let key = o["ItemProcessor"] != nil ? "ItemProcessor" : "Iterator"
            guard case .object(let p)? = o[key] else {
                if o[key] == nil { error("These fields are required: [ItemProcessor]", at) } else { error("Expected value of type Object", at + "/" + key) }
                return state
            }
            for k in p.keys where !["StartAt", "States", "Comment", "ProcessorConfig"].contains(k) {
                if k == "QueryLanguage" { error("'QueryLanguage' is not supported in ItemProcessor", at + "/" + key) }
                else { error("The field \"\(k)\" is not supported by Step Functions", at + "/" + key) }
            }
            var distributed = false
            var executionType = "STANDARD"
            if let configValue = p["ProcessorConfig"] {
                let where_ = at + "/" + key + "/ProcessorConfig"
                if case .object(let config) = configValue {
                    for k in config.keys where !["Mode", "ExecutionType"].contains(k) { error("The field \"\(k)\" is not supported by Step Functions", where_) }
                    if let mode = config["Mode"] {
                        if mode == .string("DISTRIBUTED") { distributed = true }
                        else if mode != .string("INLINE") { error("Value is not one of [INLINE, DISTRIBUTED]", where_ + "/Mode") }
                    }
                    if let type = config["ExecutionType"] {
                        if !distributed { error("The field \"ExecutionType\" is only supported for a DISTRIBUTED Map", where_) }
                        else if let t = type.stringValue, ["STANDARD", "EXPRESS"].contains(t) { executionType = t }
                        else { error("Value is not one of [STANDARD, EXPRESS]", where_ + "/ExecutionType") }
                    } else if distributed {
                        error("These fields are required: [ExecutionType]", where_)
                    }
                } else {
                    error("Expected value of type Object", where_)
                }
            }
            if !distributed {
                for k in ["ItemBatcher", "ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "Label"] where o[k] != nil {
                    error("The field \"\(k)\" is only supported for a DISTRIBUTED Map (ItemProcessor.ProcessorConfig.Mode)", at)
                }
            }
            guard let processor = branch(p, at: at + "/" + key) else { return state }
            let selector = o["ItemSelector"] != nil ? template(o, "ItemSelector", at) : state.parameters
            state.parameters = nil
            let items = path(o, "ItemsPath", at)
            let concurrency = intSource(o, "MaxConcurrency", minimum: 0, at)
            state.kind = .map(processor: processor, itemsPath: items, itemSelector: selector, maxConcurrency: concurrency)
            if distributed {
                state.distributed = distributedMap(o, p, processor: processor, executionType: executionType, at: at, key: key)
            }
        }
        return state
    }

    /// A DISTRIBUTED Map's own fields: Label, ItemBatcher, ToleratedFailure*; an EXPRESS
    /// child runs no callback, activity or `.sync` task.
    mutating func distributedMap(_ o: JSONObject, _ p: JSONObject, processor: Branch, executionType: String, at: String, key: String) -> DistributedMap {
        var label: String?
        if let v = o["Label"] {
            let forbidden = Set(" \t\n\r<>{}[]?*\"#%\\^|~`$&,;:/".unicodeScalars)
            if let s = v.stringValue, (1...40).contains(s.count), s.unicodeScalars.allSatisfy({ !forbidden.contains($0) && $0.value > 0x1F }) {
                if let previous = labels[s] { error("Duplicate Label: \(s) (also at \(previous))", at + "/Label") }
                labels[s] = at
                label = s
            } else {
                error("The value for the field 'Label' must be a string of 1 to 40 characters, without whitespace, brackets, wildcards, special or control characters", at + "/Label")
            }
        }
        var batcher: ItemBatcher?
        if let b = o["ItemBatcher"] {
            let where_ = at + "/ItemBatcher"
            if case .object(let fields) = b {
                for k in fields.keys where !["MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath", "BatchInput"].contains(k) {
                    error("The field \"\(k)\" is not supported by Step Functions", where_)
                }
                let maxItems = intSource(fields, "MaxItemsPerBatch", minimum: 1, where_)
                let maxBytes = intSource(fields, "MaxInputBytesPerBatch", minimum: 1, where_)
                if case .value(let n) = maxBytes, n > Int64(Execution.payloadLimit) {
                    error("The value for the field 'MaxInputBytesPerBatch' must be at most \(Execution.payloadLimit)", where_ + "/MaxInputBytesPerBatch")
                }
                if ["MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath"].allSatisfy({ fields[$0] == nil }) {
                    error("At least one of these fields is required: [MaxItemsPerBatch, MaxItemsPerBatchPath, MaxInputBytesPerBatch, MaxInputBytesPerBatchPath]", where_)
                }
                batcher = ItemBatcher(maxItems: maxItems, maxBytes: maxBytes, batchInput: template(fields, "BatchInput", where_))
            } else {
                error("Expected value of type Object", where_)
            }
        }
        let count = intSource(o, "ToleratedFailureCount", minimum: 0, at)
        var percentage: NumberSource?
        if let v = o["ToleratedFailurePercentage"] {
            if let d = v.doubleValue, v.isNumber, d >= 0, d <= 100 { percentage = .value(d) }
            else { error("Expected value of type Number, between 0 and 100", at + "/ToleratedFailurePercentage") }
            if o["ToleratedFailurePercentagePath"] != nil { error("These fields are mutually exclusive: [ToleratedFailurePercentage, ToleratedFailurePercentagePath]", at) }
        } else if let path = path(o, "ToleratedFailurePercentagePath", at) {
            percentage = .path(path)
        }
        if executionType == "EXPRESS" {
            for state in processor.states.values.sorted(by: { $0.name < $1.name }) {
                guard case .task(let resource, let callback, _, _, _) = state.kind else { continue }
                if callback || resource.isActivity || resource.isSync {
                    error("An EXPRESS child workflow does not support the resource '\(resource.eventNames(callback: callback).resource)'", at + "/" + key + "/States/" + state.name + "/Resource")
                }
            }
        }
        let definition = JSON.object(JSONObject(p.pairs.filter { $0.0 != "ProcessorConfig" })).text
        return DistributedMap(executionType: executionType, label: label, definition: definition, batcher: batcher,
                              toleratedFailureCount: count, toleratedFailurePercentage: percentage)
    }

    /// What a `.waitForTaskToken` task whose Parameters never name the token is told.
    static let missingTaskTokenMessage = "The field 'Parameters' must reference the task token ('$$.Task.Token') for the '.waitForTaskToken' integration pattern"

    /// Whether a Parameters template passes the task token on: some `….$` field, at any depth,
    /// whose path or intrinsic call reads `$$.Task.Token`.
    static func referencesTaskToken(_ value: JSON?) -> Bool {
        switch value {
        case .object(let o)?:
            for (key, v) in o.pairs {
                if key.hasSuffix(".$"), case .string(let s) = v, s.contains("$$.Task.Token") { return true }
                if referencesTaskToken(v) { return true }
            }
            return false
        case .array(let items)?: return items.contains { referencesTaskToken($0) }
        default: return false
        }
    }

    /// The pattern of a `states:startExecution` resource (without `.waitForTaskToken`), nil for another resource.
    static func startExecutionPattern(_ base: String) -> StartExecutionPattern? {
        let prefix = "arn:aws:states:::states:startExecution"
        guard base.hasPrefix(prefix) else { return nil }
        return StartExecutionPattern(rawValue: String(base.dropFirst(prefix.count)))
    }

    static func isLambdaARN(_ s: String) -> Bool {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        return (parts.count == 7 || parts.count == 8) && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function" && !parts[6].isEmpty
    }

    /// `arn:aws:states:REGION:ACCOUNT:activity:NAME`.
    static func isActivityARN(_ s: String) -> Bool {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 7 && parts[0] == "arn" && parts[2] == "states" && parts[5] == "activity" && !parts[6].isEmpty
    }

    mutating func retriers(_ value: JSON?, _ at: String) -> [Retrier] {
        guard let value else { return [] }
        guard case .array(let list) = value else { error("Expected value of type Array", at); return [] }
        var out: [Retrier] = []
        for (k, item) in list.enumerated() {
            let where_ = at + "[\(k)]"
            guard case .object(let r) = item else { error("Expected value of type Object", where_); continue }
            for key in r.keys where !["ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"].contains(key) {
                error("The field \"\(key)\" is not supported by Step Functions", where_)
            }
            guard let errors = errorEquals(r, where_, last: k == list.count - 1) else { continue }
            var retrier = Retrier(errorEquals: errors)
            if let v = r["IntervalSeconds"] { if let n = v.intValue, n >= 1, n <= 99_999_999 { retrier.intervalSeconds = Double(n) } else { error("Expected value of type Integer, at least 1", where_ + "/IntervalSeconds") } }
            if let v = r["MaxAttempts"] { if let n = v.intValue, n >= 0, n <= 99_999_999 { retrier.maxAttempts = Int(n) } else { error("Expected value of type Integer, at least 0", where_ + "/MaxAttempts") } }
            if let v = r["BackoffRate"] { if let d = v.doubleValue, d >= 1 { retrier.backoffRate = d } else { error("Expected value of type Number, at least 1.0", where_ + "/BackoffRate") } }
            if let v = r["MaxDelaySeconds"] { if let n = v.intValue, n >= 1, n <= 31_622_401 { retrier.maxDelaySeconds = Double(n) } else { error("Expected value of type Integer, between 1 and 31622401", where_ + "/MaxDelaySeconds") } }
            if let v = r["JitterStrategy"] {
                if v == .string("FULL") { retrier.jitterFull = true } else if v != .string("NONE") { error("Value is not one of [FULL, NONE]", where_ + "/JitterStrategy") }
            }
            out.append(retrier)
        }
        return out
    }

    mutating func catchers(_ value: JSON?, _ at: String) -> [Catcher] {
        guard let value else { return [] }
        guard case .array(let list) = value else { error("Expected value of type Array", at); return [] }
        var out: [Catcher] = []
        for (k, item) in list.enumerated() {
            let where_ = at + "[\(k)]"
            guard case .object(let c) = item else { error("Expected value of type Object", where_); continue }
            for key in c.keys where !["ErrorEquals", "Next", "ResultPath", "Comment"].contains(key) {
                if Self.jsonataOnly.contains(key) { error("The field \"\(key)\" is not supported by Hearth yet: JSONata and variables are not (JSONPath only)", where_) }
                else { error("The field \"\(key)\" is not supported by Step Functions", where_) }
            }
            guard let errors = errorEquals(c, where_, last: k == list.count - 1) else { continue }
            guard case .string(let next)? = c["Next"] else { error("These fields are required: [Next]", where_); continue }
            out.append(Catcher(errorEquals: errors, next: next, resultPath: pathField(c, "ResultPath", where_)))
        }
        return out
    }

    mutating func errorEquals(_ o: JSONObject, _ at: String, last: Bool) -> [String]? {
        guard case .array(let list)? = o["ErrorEquals"] else {
            error("These fields are required: [ErrorEquals]", at)
            return nil
        }
        let names = list.compactMap(\.stringValue)
        guard names.count == list.count, !names.isEmpty else {
            error("ErrorEquals must be a non-empty array of strings", at + "/ErrorEquals")
            return nil
        }
        if names.contains(StatesError.all) && (names.count > 1 || !last) {
            error("States.ALL must appear alone in ErrorEquals, in the last retrier or catcher", at + "/ErrorEquals")
        }
        return names
    }

    static let operators: [String: String] = [
        "StringEquals": "string", "StringLessThan": "string", "StringGreaterThan": "string", "StringLessThanEquals": "string",
        "StringGreaterThanEquals": "string", "StringMatches": "string",
        "NumericEquals": "number", "NumericLessThan": "number", "NumericGreaterThan": "number", "NumericLessThanEquals": "number",
        "NumericGreaterThanEquals": "number", "BooleanEquals": "boolean",
        "TimestampEquals": "timestamp", "TimestampLessThan": "timestamp", "TimestampGreaterThan": "timestamp",
        "TimestampLessThanEquals": "timestamp", "TimestampGreaterThanEquals": "timestamp",
        "IsNull": "boolean", "IsPresent": "boolean", "IsNumeric": "boolean", "IsString": "boolean", "IsBoolean": "boolean", "IsTimestamp": "boolean",
    ]

    mutating func choiceRule(_ r: JSONObject, _ at: String, top: Bool) -> ChoiceRule? {
        var keys = r.keys.filter { $0 != "Comment" && !(top && $0 == "Next") }
        if !top, r["Next"] != nil { error("The field \"Next\" is not supported in a nested choice rule", at) }
        for key in keys where Self.jsonataOnly.contains(key) {
            error("The field \"\(key)\" is not supported by Hearth yet: JSONata and variables are not (JSONPath only)", at)
        }
        keys.removeAll { Self.jsonataOnly.contains($0) }
        if let v = r["And"] ?? r["Or"] {
            let op = r["And"] != nil ? "And" : "Or"
            guard keys.count == 1 else { error("A choice rule with \(op) may have no other comparison", at); return nil }
            guard case .array(let list) = v, !list.isEmpty else { error("Expected a non-empty array of choice rules", at + "/" + op); return nil }
            var rules: [ChoiceRule] = []
            for (k, item) in list.enumerated() {
                guard case .object(let o) = item else { error("Expected value of type Object", at + "/\(op)[\(k)]"); return nil }
                guard let rule = choiceRule(o, at + "/\(op)[\(k)]", top: false) else { return nil }
                rules.append(rule)
            }
            return op == "And" ? .and(rules) : .or(rules)
        }
        if let v = r["Not"] {
            guard keys.count == 1 else { error("A choice rule with Not may have no other comparison", at); return nil }
            guard case .object(let o) = v else { error("Expected value of type Object", at + "/Not"); return nil }
            return choiceRule(o, at + "/Not", top: false).map { .not($0) }
        }
        guard let variableValue = r["Variable"] else {
            error("These fields are required: [Variable]", at)
            return nil
        }
        guard case .string(let vs) = variableValue, let variable = try? JSONPath(vs) else {
            error("The value for the field 'Variable' must be a valid JSONPath", at + "/Variable")
            return nil
        }
        let ops = keys.filter { $0 != "Variable" }
        guard ops.count == 1 else {
            if ops.isEmpty { error("A choice rule needs exactly one comparison operator", at) }
            else {
                for op in ops where Self.operators[op] == nil && !(op.hasSuffix("Path") && Self.operators[String(op.dropLast(4))] != nil) {
                    error("The field \"\(op)\" is not supported by Step Functions", at)
                }
                error("A choice rule needs exactly one comparison operator", at)
            }
            return nil
        }
        let op = ops[0]
        let operand = r[op]!
        if op.hasSuffix("Path"), let base = Self.operators[String(op.dropLast(4))], !op.hasPrefix("Is") {
            _ = base
            guard case .string(let ps) = operand, let p = try? JSONPath(ps) else {
                error("The value for the field '\(op)' must be a valid JSONPath", at + "/" + op)
                return nil
            }
            return .compare(variable: variable, op: String(op.dropLast(4)), operand: .null, operandPath: p)
        }
        guard let type = Self.operators[op] else {
            error("The field \"\(op)\" is not supported by Step Functions", at)
            return nil
        }
        let ok: Bool
        switch type {
        case "string": ok = operand.stringValue != nil
        case "number": ok = operand.isNumber
        case "boolean": ok = operand.boolValue != nil
        default: ok = operand.stringValue.flatMap(Timestamp.parse) != nil
        }
        guard ok else {
            error("The value for the field '\(op)' must be of type \(type == "timestamp" ? "Timestamp (RFC3339 string)" : type.capitalized)", at + "/" + op)
            return nil
        }
        return .compare(variable: variable, op: op, operand: operand, operandPath: nil)
    }
}

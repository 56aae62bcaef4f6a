import Testing
@testable import HearthDeploy

@Suite struct TemplateLoadingTests {
    @Test func shortTagsBecomeLongForms() throws {
        let value = try TemplateLoader.load("""
        A: !Ref Thing
        B: !GetAtt Fn.Arn
        C: !Sub "${AWS::Region}-x"
        D: !Join [",", [a, b]]
        E: !If [IsProd, 1, 2]
        F: !Sub
          - "${X}"
          - X: y
        """)
        #expect(value["A"] == .map(TemplateMap([("Ref", .string("Thing"))])))
        #expect(value["B"] == .map(TemplateMap([("Fn::GetAtt", .list([.string("Fn"), .string("Arn")]))])))
        #expect(value["C"]?.intrinsic?.name == "Fn::Sub")
        #expect(value["D"]?.intrinsic?.argument == .list([.string(","), .list([.string("a"), .string("b")])]))
        #expect(value["E"]?.intrinsic?.name == "Fn::If")
        #expect(value["F"]?.intrinsic?.argument.listValue?.count == 2)
    }

    @Test func scalarsKeepTheirText() throws {
        let value = try TemplateLoader.load("""
        Version: 2.0
        Padded: 010
        Quoted: "30"
        Yes: yes
        On: true
        Empty:
        """)
        #expect(value["Version"] == .number("2.0"))
        #expect(value["Version"]?.stringValue == "2.0")
        #expect(value["Padded"]?.stringValue == "010")
        #expect(value["Quoted"] == .string("30"))
        #expect(value["Yes"] == .string("yes"))
        #expect(value["On"] == .bool(true))
        #expect(value["Empty"] == .null)
    }

    @Test func jsonTemplatesKeepOrderAndNumbers() throws {
        let value = try TemplateLoader.load("{\n\t\"b\": 1.50, \"a\": [true, null, \"x\\u00e9\"], \"c\": {\"Ref\": \"P\"}\n}")
        #expect(value.mapValue?.keys == ["b", "a", "c"])
        #expect(value["b"] == .number("1.50"))
        #expect(value["a"] == .list([.bool(true), .null, .string("xé")]))
        #expect(value["c"]?.intrinsic?.name == "Ref")
        #expect(throws: TemplateError.self) { try TemplateLoader.load("{\"a\": 1,}") }
        #expect(throws: TemplateError.self) { try TemplateLoader.load("{\"a\": 1, \"a\": 2}") }
    }

    @Test func aliasBombsAreRefused() throws {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...7 { yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        #expect(throws: TemplateError.self) { try TemplateLoader.load(yaml) }
    }

    @Test func sectionsAreChecked() throws {
        #expect(throws: TemplateError("Template format error: At least one Resources member must be defined.")) {
            try Template(text: "Resources: {}")
        }
        #expect(throws: TemplateError("Template format error: Invalid template property or properties [Resource]")) {
            try Template(text: "Resource: {}")
        }
        #expect(throws: TemplateError("Template format error: [/Resources/A] Every Resources object must contain a Type member.")) {
            try Template(text: "Resources:\n  A:\n    Properties: {}")
        }
        #expect(throws: TemplateError("Template format error: Resource name a-b is non alphanumeric.")) {
            try Template(text: "Resources:\n  a-b:\n    Type: AWS::SQS::Queue")
        }
    }
}

@Suite struct IntrinsicTests {
    func evaluator(parameters: [String: TemplateValue] = [:], resources: [String: ResourceValues] = [:],
                   conditions: [String: Bool] = [:], mappings: TemplateMap = TemplateMap()) -> Evaluator {
        Evaluator(EvaluationContext(stackName: "app", region: "eu-west-1", parameters: parameters, mappings: mappings,
                                    conditions: conditions, resources: resources))
    }

    func eval(_ yaml: String, _ e: Evaluator) throws -> TemplateValue {
        try e.evaluate(TemplateLoader.load("V: " + yaml))["V"] ?? .null
    }

    @Test func refSubAndGetAtt() throws {
        let e = evaluator(parameters: ["Env": .string("prod")],
                          resources: ["Fn": ResourceValues(ref: "app-Fn", attributes: ["Arn": .string("arn:aws:lambda:eu-west-1:000000000000:function:app-Fn")])])
        #expect(try eval("!Ref Env", e) == .string("prod"))
        #expect(try eval("!Ref Fn", e) == .string("app-Fn"))
        #expect(try eval("!Ref AWS::StackName", e) == .string("app"))
        #expect(try eval("!GetAtt Fn.Arn", e) == .string("arn:aws:lambda:eu-west-1:000000000000:function:app-Fn"))
        #expect(try eval("!Sub '${Fn}@${AWS::Region}/${Env}/${!Literal}/${Fn.Arn}'", e)
            == .string("app-Fn@eu-west-1/prod/${Literal}/arn:aws:lambda:eu-west-1:000000000000:function:app-Fn"))
        #expect(try eval("!Sub ['${A}-${Env}', {A: !Ref Fn}]", e) == .string("app-Fn-prod"))
        #expect(throws: TemplateError("Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template")) {
            try eval("!Ref Nope", e)
        }
        #expect(throws: TemplateError("Template error: resource Fn does not support attribute type Missing in Fn::GetAtt")) {
            try eval("!GetAtt Fn.Missing", e)
        }
    }

    @Test func listsAndConditions() throws {
        let e = evaluator(parameters: ["Subnets": .list([.string("a"), .string("b")])], conditions: ["IsProd": false],
                          mappings: try TemplateLoader.load("Sizes: {prod: {mem: 1024}, dev: {mem: 128}}").mapValue!)
        #expect(try eval("!Join ['-', !Ref Subnets]", e) == .string("a-b"))
        #expect(try eval("!Select [1, !Split [',', 'x,y,z']]", e) == .string("y"))
        #expect(try eval("!If [IsProd, big, small]", e) == .string("small"))
        #expect(try eval("!FindInMap [Sizes, dev, mem]", e) == .number("128"))
        #expect(try eval("!Base64 hi", e) == .string("aGk="))
        #expect(try e.evaluate(TemplateLoader.load("A: !If [IsProd, x, !Ref AWS::NoValue]\nB: [1, !Ref AWS::NoValue, 2]"))
            == TemplateLoader.load("B: [1, 2]"))
        #expect(throws: TemplateError("Template error: Fn::Select cannot select nonexistent value at index 5")) {
            try eval("!Select [5, [a]]", e)
        }
        #expect(throws: TemplateError.self) { try eval("!ImportValue Shared", e) }
    }

    @Test func conditionsEvaluateInDependencyOrder() throws {
        let template = try Template(text: """
        Parameters:
          Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
        Conditions:
          NotProd: !Not [!Condition IsProd]
          IsProd: !Equals [!Ref Env, prod]
          Both: !And [!Condition NotProd, !Equals [a, a]]
        Resources:
          Q: {Type: AWS::SQS::Queue, Condition: IsProd}
        """)
        var context = EvaluationContext(stackName: "s", region: "us-east-1")
        context.parameters = try template.parameterValues(overrides: [:])
        #expect(try template.conditionValues(context) == ["IsProd": false, "NotProd": true, "Both": true])
        context.parameters = try template.parameterValues(overrides: ["Env": "prod"])
        #expect(try template.conditionValues(context)["IsProd"] == true)
        #expect(throws: TemplateError("Parameter 'Env' must be one of AllowedValues")) { try template.parameterValues(overrides: ["Env": "qa"]) }
        #expect(throws: TemplateError("Parameters: [Other] do not exist in the template")) { try template.parameterValues(overrides: ["Other": "1"]) }
        let cyclic = try Template(text: "Conditions:\n  A: !Condition B\n  B: !Condition A\nResources:\n  Q: {Type: AWS::SQS::Queue}")
        #expect(throws: TemplateError.self) { try cyclic.conditionValues(context) }
    }

    @Test func parameterConstraints() throws {
        let template = try Template(text: """
        Parameters:
          Size: {Type: Number, MinValue: 128, MaxValue: 10240}
          Name: {Type: String, AllowedPattern: "[a-z]+", ConstraintDescription: lower-case letters}
          Tags: {Type: CommaDelimitedList, Default: "a, b"}
        Resources:
          Q: {Type: AWS::SQS::Queue}
        """)
        #expect(throws: TemplateError("Parameters: [Size, Name] must have values")) { try template.parameterValues(overrides: [:]) }
        #expect(throws: TemplateError("Parameter 'Size' must be a number.")) { try template.parameterValues(overrides: ["Size": "big", "Name": "x"]) }
        #expect(throws: TemplateError("Parameter 'Size' must be a number not less than 128")) { try template.parameterValues(overrides: ["Size": "64", "Name": "x"]) }
        #expect(throws: TemplateError("Parameter 'Name' failed to satisfy constraint: lower-case letters")) {
            try template.parameterValues(overrides: ["Size": "256", "Name": "X1"])
        }
        let values = try template.parameterValues(overrides: ["Size": "256", "Name": "abc"])
        #expect(values["Tags"] == .list([.string("a"), .string("b")]))
        #expect(values["Size"] == .number("256"))
    }
}

@Suite struct StackTemplateTests {
    static let app = """
    AWSTemplateFormatVersion: '2010-09-09'
    Transform: AWS::Serverless-2016-10-31
    Globals:
      Function:
        Runtime: python3.12
        Timeout: 10
        Environment: {Variables: {STAGE: dev, SHARED: g}}
        Layers: [!Ref Deps]
    Resources:
      Api:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: api/
          Handler: app.handler
          Timeout: 3
          Environment: {Variables: {STAGE: local}}
          Layers: [arn:aws:lambda:us-east-1:000000000000:layer:extra:1]
          AutoPublishAlias: live
          Events:
            Hello: {Type: HttpApi, Properties: {Path: /hello, Method: get}}
      Worker:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: worker/
          Handler: app.handler
          Environment: {Variables: {API: !GetAtt Api.Arn}}
      Deps:
        Type: AWS::Serverless::LayerVersion
        Properties: {ContentUri: deps/}
      Role:
        Type: AWS::IAM::Role
        Properties: {AssumeRolePolicyDocument: {}}
    Outputs:
      WorkerName: {Value: !Ref Worker}
    """

    @Test func globalsMergeAsSamMerges() throws {
        let stack = try StackTemplate(template: Template(text: Self.app), stackName: "demo", region: "us-east-1")
        let api = try #require(stack.resources.first { $0.logicalID == "Api" })
        #expect(api.properties["Runtime"] == .string("python3.12"))
        #expect(api.properties["Timeout"] == .number("3"))
        #expect(api.properties["Environment"]?["Variables"] == .map(TemplateMap([("STAGE", .string("local")), ("SHARED", .string("g"))])))
        #expect(api.properties["Layers"]?.listValue?.count == 2)
        #expect(throws: TemplateError.self) {
            try StackTemplate(template: Template(text: "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Function: {FunctionName: x}\nResources:\n  Q: {Type: AWS::SQS::Queue}"),
                              stackName: "demo", region: "us-east-1")
        }
    }

    @Test func orderPutsDependenciesFirst() throws {
        let stack = try StackTemplate(template: Template(text: Self.app), stackName: "demo", region: "us-east-1")
        let order = stack.resources.map(\.logicalID)
        #expect(order.first == "ServerlessHttpApi")
        let position = { (id: String) in order.firstIndex(of: id)! }
        #expect(position("Deps") < position("Api"))
        #expect(position("Api") < position("Worker"))
        #expect(stack.warnings.contains { $0.contains("Role") })
    }

    @Test func unsupportedTypesAreListedBeforeAnythingChanges() throws {
        let text = """
        Resources:
          Table: {Type: AWS::DynamoDB::Table}
          Bucket: {Type: AWS::S3::Bucket}
          Q: {Type: AWS::SQS::Queue}
        """
        #expect(throws: TemplateError("Template format error: Unrecognized resource types: [Table (AWS::DynamoDB::Table), Bucket (AWS::S3::Bucket)]. Nothing was changed; --skip-unsupported deploys the rest.")) {
            try StackTemplate(template: Template(text: text), stackName: "demo", region: "us-east-1")
        }
        let skipped = try StackTemplate(template: Template(text: text), stackName: "demo", region: "us-east-1", skipUnsupported: true)
        #expect(skipped.resources.map(\.logicalID) == ["Q"])
        #expect(throws: TemplateError.self) {
            try StackTemplate(template: Template(text: text), stackName: "demo", region: "us-east-1", services: .lambda, skipUnsupported: false)
        }
    }

    @Test func stateMachineEventsAreSchedulesOrRefused() throws {
        let text = """
        Resources:
          Flow:
            Type: AWS::Serverless::StateMachine
            Properties:
              Definition: {StartAt: A, States: {A: {Type: Pass, End: true}}}
              Events:
                Nightly: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 day)}}
                Web: {Type: Api, Properties: {Path: /go, Method: post}}
        """
        #expect(throws: TemplateError("Template format error: Unrecognized resource types: [Flow.Events.Web (event type Api)]. Nothing was changed; --skip-unsupported deploys the rest.")) {
            try StackTemplate(template: Template(text: text), stackName: "demo", region: "us-east-1")
        }
        let scheduled = try StackTemplate(template: Template(text: text.replacingOccurrences(of: "        Web: {Type: Api, Properties: {Path: /go, Method: post}}", with: "")),
                                          stackName: "demo", region: "us-east-1")
        #expect(scheduled.implicitIDs["FlowNightly"] == "Flow")
        #expect(throws: TemplateError.self) {
            try StackTemplate(template: Template(text: text.replacingOccurrences(of: "        Web: {Type: Api, Properties: {Path: /go, Method: post}}", with: "")),
                              stackName: "demo", region: "us-east-1", services: [.lambda, .stateMachines])
        }
    }

    @Test func cyclesAndDanglingReferencesAreRefused() throws {
        let cycle = """
        Resources:
          A: {Type: AWS::SQS::Queue, Properties: {QueueName: !GetAtt B.QueueName}}
          B: {Type: AWS::SQS::Queue, Properties: {QueueName: !Sub "${A}-b"}}
        """
        #expect(throws: TemplateError("Circular dependency between resources: [A, B]")) {
            try StackTemplate(template: Template(text: cycle), stackName: "demo", region: "us-east-1")
        }
        let dangling = "Resources:\n  A: {Type: AWS::SQS::Queue, Properties: {RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn}}}"
        #expect(throws: TemplateError("Template format error: Unresolved resource dependencies [Dlq] in the Resources block of the template")) {
            try StackTemplate(template: Template(text: dangling), stackName: "demo", region: "us-east-1")
        }
    }

    @Test func evaluationAndChangeSets() throws {
        let stack = try StackTemplate(template: Template(text: Self.app), stackName: "demo", region: "us-east-1")
        let worker = try #require(stack.resources.first { $0.logicalID == "Worker" })
        let pending = try stack.evaluatedProperties(worker, known: [:])
        #expect(pending["Environment"]?["Variables"]?["API"] == .string("{{Api.Arn}}"))
        let known = ["Api": ResourceValues(ref: "demo-Api", attributes: ["Arn": .string("arn:x")]), "Deps": ResourceValues(ref: "arn:layer:1")]
        let properties = try stack.evaluatedProperties(worker, known: known)
        #expect(properties["Environment"]?["Variables"]?["API"] == .string("arn:x"))
        #expect(properties["Layers"] == .list([.string("arn:layer:1")]))

        let recorded = RecordedResource(type: worker.type, physicalID: "demo-Worker", properties: TemplateValue.map(properties).canonicalJSON,
                                        artifacts: ["CodeUri": "aaa"], ref: "demo-Worker")
        #expect(ChangeSet.change(worker, properties: properties, artifacts: ["CodeUri": "aaa"], previous: recorded).action == .keep)
        var changed = properties
        changed["Timeout"] = .number("20")
        let change = ChangeSet.change(worker, properties: changed, artifacts: ["CodeUri": "bbb"], previous: recorded)
        #expect(change.action == .modify)
        #expect(change.reasons == ["Timeout", "CodeUri content"])
        #expect(ChangeSet.change(worker, properties: properties, artifacts: [:], previous: nil).action == .add)
        let record = StackRecord(name: "demo", status: "CREATE_COMPLETE", createdAt: "t", updatedAt: "t", resources: ["Old": recorded])
        #expect(ChangeSet.removals(previous: record, keeping: ["Worker"]).map(\.logicalID) == ["Old"])

        let outputs = try stack.outputs(known: ["Worker": ResourceValues(ref: "demo-Worker")])
        #expect(outputs.first?.value == "demo-Worker")
    }

    @Test func physicalNamesStayWithinLimits() {
        #expect(PhysicalName.make(stack: "app", logicalID: "Fn") == "app-Fn")
        let long = PhysicalName.make(stack: String(repeating: "s", count: 60), logicalID: "FunctionWithALongName")
        #expect(long.count == 64)
        #expect(long != PhysicalName.make(stack: String(repeating: "s", count: 60), logicalID: "FunctionWithALongNameToo"))
    }
}

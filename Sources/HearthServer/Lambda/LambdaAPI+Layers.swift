import Foundation
import HearthCore
import HearthStore

// The layer operations.
extension LambdaAPI {
    // MARK: layers

    func publishLayerVersion(_ name: String, _ request: HTTPRequest, requestID: String) throws -> HTTPResponse {
        let body = try jsonBody(request)
        guard let content = body["Content"] as? [String: Any] else { throw LambdaError.invalidParameter("Content is required") }
        let (sha, size) = try storeZip(content)
        defer { code.release(sha) }
        let runtimes = body["CompatibleRuntimes"] as? [String] ?? []
        let layer: LayerVersion
        do {
            layer = try store.publishLayerVersion(name: name, codeSHA256: sha, codeSize: size,
                                                  description: try Self.string(body, "Description") ?? "",
                                                  compatibleRuntimes: runtimes, licenseInfo: try Self.string(body, "LicenseInfo") ?? "")
        } catch let error as StoreError {
            throw Self.lambdaError(error)
        }
        return LambdaShapes.json(LambdaShapes.layerVersion(layer, region: region, account: account), status: 201, requestID: requestID)
    }

    func layerNumber(_ name: String, _ raw: String) throws -> LayerVersion {
        guard let number = Int(raw), let layer = try store.layerVersion(name: name, version: number) else {
            throw LambdaError(status: 404, type: "ResourceNotFoundException",
                              message: "The resource you requested does not exist. (layer \(name) version \(raw))")
        }
        return layer
    }

    func getLayerVersion(_ name: String, _ raw: String, requestID: String) throws -> HTTPResponse {
        LambdaShapes.json(LambdaShapes.layerVersion(try layerNumber(name, raw), region: region, account: account), requestID: requestID)
    }

    func listLayerVersions(_ name: String, requestID: String) throws -> HTTPResponse {
        let versions = try store.layerVersions(name: name).map { LambdaShapes.layerVersion($0, region: region, account: account) }
        return LambdaShapes.json(["LayerVersions": versions], requestID: requestID)
    }

    func listLayers(requestID: String) throws -> HTTPResponse {
        let layers = try store.latestLayerVersions().map { latest -> [String: Any] in
            ["LayerName": latest.name, "LayerArn": LambdaShapes.layerARN(region: region, account: account, name: latest.name),
             "LatestMatchingVersion": LambdaShapes.layerVersion(latest, region: region, account: account)]
        }
        return LambdaShapes.json(["Layers": layers], requestID: requestID)
    }

    func deleteLayerVersion(_ name: String, _ raw: String, requestID: String) throws -> HTTPResponse {
        if let number = Int(raw) { try store.deleteLayerVersion(name: name, version: number) }
        code.collectGarbage(keep: try store.referencedCodeHashes())
        return HTTPResponse(status: 204, headers: [("x-amzn-RequestId", requestID)], body: [])
    }

}

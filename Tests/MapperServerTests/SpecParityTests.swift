import Foundation
import MapperCore
import MapperServer
import Testing
import Yams

@Suite("OpenAPI contract")
struct SpecParityTests {
    /// The spec at the top of the repository, found from this file's location.
    static var specURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("OpenAPI/openapi.yaml")
    }

    @Test("every served route is in the spec and every spec operation is served")
    func routesMatchSpec() throws {
        let text = try String(contentsOf: Self.specURL, encoding: .utf8)
        let spec = try #require(try Yams.load(yaml: text) as? [String: Any])
        let paths = try #require(spec["paths"] as? [String: Any])
        let methods = ["get", "put", "post", "delete", "patch", "head", "options"]
        var fromSpec: [String: Set<String>] = [:]
        for (path, item) in paths {
            let operations = (item as? [String: Any] ?? [:]).keys.filter { methods.contains($0) }
            fromSpec[path] = Set(operations.map { $0.uppercased() })
        }
        var served: [String: Set<String>] = [:]
        for route in RouteTable.routes { served[route.path] = Set(route.methods) }
        #expect(served == fromSpec)
        // Every operation has an operationId and a default problem response.
        for (path, item) in paths {
            for (method, operation) in item as? [String: Any] ?? [:] where methods.contains(method) {
                let operation = operation as? [String: Any] ?? [:]
                #expect(operation["operationId"] != nil, "\(method) \(path)")
                #expect((operation["responses"] as? [String: Any])?["default"] != nil, "\(method) \(path)")
            }
        }
    }

    @Test("the spec's target type enum is exactly the server's target types")
    func targetTypesMatchSpec() throws {
        let text = try String(contentsOf: Self.specURL, encoding: .utf8)
        let spec = try #require(try Yams.load(yaml: text) as? [String: Any])
        let schemas = (spec["components"] as? [String: Any])?["schemas"] as? [String: Any]
        let target = (schemas?["TableTarget"] as? [String: Any])?["properties"] as? [String: Any]
        let values = try #require((target?["type"] as? [String: Any])?["enum"] as? [String])
        #expect(Set(values) == Set(TargetRegistry().all.map(\.name)))
    }
}

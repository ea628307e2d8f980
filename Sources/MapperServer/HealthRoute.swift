import Foundation
import Hummingbird
import MapperAPI
import MapperCore
import MapperVersion

/// `GET /v1/health` as an ordinary route (left out of generation like the data routes): it
/// is what load balancers and orchestration poll, so it skips the generated transport. The
/// body is the spec's `Health` document, encoded once.
enum HealthRoute {
    static func register(on router: Router<BasicRequestContext>) throws {
        let document = try JSONEncoder().encode(Components.Schemas.Health(status: "ok", version: MapperdVersion.string))
        let body = ByteBuffer(data: document)
        router.get("/v1/health") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
    }
}

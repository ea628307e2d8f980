import Foundation
import MapperAPI
import MapperNBD

extension APIHandler {
    func getNBD(_ input: Operations.GetNBD.Input) async throws -> Operations.GetNBD.Output {
        let nbd = runtime.nbd
        let connections = (nbd?.connections ?? []).map { connection in
            Components.Schemas.NBDConnection(
                id: Int64(connection.id), client: connection.client, tls: connection.tls, export: connection.export,
                since: connection.since, inFlight: connection.inFlight, bytesRead: Int64(connection.bytesRead),
                bytesWritten: Int64(connection.bytesWritten))
        }
        return .ok(.init(body: .json(.init(listeners: nbd?.listeners ?? [], connections: connections))))
    }
}

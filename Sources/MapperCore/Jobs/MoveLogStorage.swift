/// Where move jobs keep their mirrors' region logs: small backends the job creates and
/// removes (the server puts them as files in its data directory).
public struct MoveLogStorage: Sendable {
    /// Creates backend `name` of `sectors` sectors (zeroed) and registers it.
    public var create: @Sendable (_ name: String, _ sectors: UInt64) async throws -> Void
    /// Deletes what ``create`` made for `name`, once its backend is removed.
    public var remove: @Sendable (_ name: String) async throws -> Void

    public init(
        create: @escaping @Sendable (_ name: String, _ sectors: UInt64) async throws -> Void,
        remove: @escaping @Sendable (_ name: String) async throws -> Void
    ) {
        self.create = create
        self.remove = remove
    }
}

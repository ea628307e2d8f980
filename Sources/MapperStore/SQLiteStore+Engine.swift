import MapperCore

extension SQLiteStore {
    /// Commits made so far by the writer (each holds every item queued while the previous
    /// one was committing).
    public var commitCount: Int { writer.commitCount }
}

/// Persists a path's dm state and logs a device-less event whenever it changes, whoever
/// changed it (message, path endpoint or an I/O error in a multipath target). Devices whose
/// multipath targets use the path log their own events too.
final class PathStateRecorder: PathStateObserver {
    let engine: EngineServices

    init(engine: EngineServices) { self.engine = engine }

    func pathFailed(_ path: Path) { record(path, kind: .pathFailed) }
    func pathReinstated(_ path: Path) { record(path, kind: .pathReinstated) }

    private func record(_ path: Path, kind: EngineEvent.Kind) {
        let info = path.info
        engine.events.append(kind: kind, path: path.name, detail: "failCount \(info.failCount)")
        // Never waits: this runs from I/O completions too. The change commits in order with
        // everything else; API callers await it with `committed()`.
        let logger = engine.logger
        let name = path.name
        engine.store.enqueue(.pathChanged(info)) { error in
            if let error {
                logger.error("path state not persisted", metadata: ["path": "\(name)", "error": "\(error)"])
            }
        }
    }
}

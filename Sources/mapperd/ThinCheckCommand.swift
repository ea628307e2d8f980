import ArgumentParser
import Foundation
import MapperCore

/// `mapperd thin-check --metadata FILE`: verifies a thin pool's metadata device offline, as
/// dm's `thin_check` does; prints what it holds and exits 0, or prints the first inconsistency
/// and exits 1.
struct ThinCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thin-check", abstract: "Check a thin pool's metadata device (offline).")

    @Option(name: .long, help: "The metadata device's file (a file backend of a thin-pool table).")
    var metadata: String

    func run() throws {
        do {
            let report = try ThinMetadataCheck.check(file: URL(fileURLWithPath: metadata))
            StandardOutput.write(report.text)
        } catch let error as MapperError {
            StandardOutput.write("\(metadata): \(error.message)\n")
            throw ExitCode(1)
        } catch {
            StandardOutput.write("\(metadata): \(error)\n")
            throw ExitCode(1)
        }
    }
}

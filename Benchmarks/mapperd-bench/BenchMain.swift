import Foundation
import MapperCore
import MapperTestSupport

/// `mapperd-bench <suite> [--seconds S] [--dirs DIR,DIR]`: benchmark suites that print one
/// JSON line per case, each with the figure measured and a baseline measured in the same run.
@main
enum BenchMain {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let suite = arguments.first else {
            usage()
            exit(2)
        }
        let options = BenchOptions(arguments.dropFirst())
        // Keep the measured work off the main actor.
        let code = await Task.detached { () -> Int32 in
            do {
                switch suite {
                case "engine": try await EngineBench(options: options).run()
                case "journal": try await JournalBench(options: options).run()
                case "http": try await HTTPBench(options: options).run()
                case "nbd": try await NBDBench(options: options).run()
                case "memory": try await MemoryBench(options: options).run()
                case "move": try await MoveBench(options: options).run()
                case "thin": try await ThinBench(options: options).run()
                case "failover": try await FailoverBench(options: options).run()
                case "recover-once":
                    try await JournalBench.recoverOnce(
                        directory: URL(fileURLWithPath: arguments.dropFirst().first ?? "."),
                        kind: arguments.dropFirst(2).first.flatMap(StoreKind.init(rawValue:)) ?? .sqlite)
                default:
                    usage()
                    return 2
                }
                return 0
            } catch {
                FileHandle.standardError.write(Data("mapperd-bench: \(error)\n".utf8))
                return 1
            }
        }.value
        exit(code)
    }

    static func usage() {
        FileHandle.standardError.write(
            Data(
                """
                usage: mapperd-bench engine|journal|http|nbd|memory|move|thin|failover [--seconds S] [--dirs DIR[,DIR...]] [--filter TEXT]
                  engine   4 KiB random I/O through linear (and multipath) devices vs raw pread/pwrite,
                           and the load time of a 100,000-line table
                  journal  durable queueing of 4 KiB writes (64 submitters) vs plain completed writes,
                           the end of an outage (20,000 queued bios dequeued and ended), and the
                           start-up time to recover 10,000 and 100,000 queued bios; on
                           SQLite, and on PostgreSQL too when it is installed (a throw-away
                           cluster, fsync on)
                  http     GET /v1/health and 4 KiB GET/PUT data vs a bare Hummingbird router in the
                           same process (health document, pread/pwrite of the same file), wrk at 16
                           and 64 connections, nginx beside (needs wrk)
                  memory   the server's resident memory growth over 10,000 requests of 1 MiB, half
                           reads, against a 64 MiB budget (needs wrk)
                  nbd      fio's nbd engine: mapperd's export of a linear device vs nbdkit's file
                           plugin on the same file, 4 KiB random I/O at QD 1/16 and 4 connections
                           (needs fio and nbdkit)
                  move     a move job of a 1 GiB linear device between two files vs dd conv=fsync, and
                           4 KiB randwrite QD16 over NBD alone vs during moves, unlimited and at 50 MiB/s
                           (the latter needs fio), and the same writes during qemu's blockdev-mirror at
                           50 MiB/s (needs qemu-storage-daemon)
                  thin     4 KiB random I/O to provisioned thin blocks and first writes that provision
                           64 KiB blocks vs a linear device, NBD's way; snapshot time at 10k/100k/1M
                           mapped blocks
                  failover kill -9 of a device's owner to the first I/O answered by the other host,
                           with --lease-ms 3000, by claim and by --takeover auto (two mapperd
                           processes built next to this one, PostgreSQL, nbdkit)

                """.utf8))
    }
}

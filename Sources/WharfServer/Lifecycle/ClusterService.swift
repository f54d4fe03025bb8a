import ServiceLifecycle
import WharfCluster

/// Cluster mode as a service: joins the cluster (retrying while NATS is
/// away; the MQTT listener serves meanwhile, `/readyz` says why not ready)
/// and leaves it on graceful shutdown, withdrawing the node's lease so the
/// others stop routing here at once.
struct ClusterService: Service {
    let node: ClusterNode

    func run() async {
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await node.run() }
            try? await gracefulShutdown()
            await node.stop()
            await tasks.waitForAll()
        }
    }
}

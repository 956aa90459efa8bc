// The program reads every Docker host before it declares anything
// (components/discovery.ts), and a component's constructor is synchronous,
// while the reads are I/O over the Engine API (engine/host-facts.ts). They ran
// in a child node process the program waited for: about 0.1 s of every
// preview and up, half of it a new node starting (issue 30). Now they run on a
// worker thread, and the program waits on a flag the thread sets once its
// answer is posted (Atomics.wait, then the answer taken off its port at once).
// Our own program starts the thread before it loads anything else
// (program.js), with the read it will most likely ask for (one host on a
// local socket), so the host is read while the program loads its own modules
// and checks its config. The answer is used only when the program then asks
// for exactly that read.
import * as fs from "fs";
import { MessageChannel, MessagePort, receiveMessageOnPort, Worker } from "worker_threads";
import type { FactsAnswer, FactsRequest } from "../engine/host-facts";
import { dockerCliEnv, resolveDockerEndpoint } from "./dockerhost";
import { stackNames } from "./naming";
import { packageFile } from "./package";

/** What the reader thread gets at its start (engine/host-facts.ts answers on `port`, then sets `flag[0]`). */
export interface FactsWorkerData {
    factsReader: true;
    flag: Int32Array;
    port: MessagePort;
}

/** What the reader thread posts: every host's answer, or why none could be given. */
export type FactsReply = { answers: FactsAnswer[] } | { error: string };

interface Reader {
    worker: Worker;
    port: MessagePort;
    flag: Int32Array;
    /** The read it was given at its start (as JSON), when it was given one. */
    asked?: string;
}

let early: Reader | undefined;

/** The read of one host: its names, and the DOCKER_* variables of the environment the program resolved for it. */
export function factsRequest(stackLabel: string, proxyContainer: string, env: NodeJS.ProcessEnv): FactsRequest {
    return {
        stackLabel,
        proxyContainer,
        namePrefix: proxyContainer.replace(/-proxy$/, ""),
        docker: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[0].startsWith("DOCKER_") && e[1] !== undefined)),
    };
}

/**
 * The read the program will most likely ask for, from what it knows before
 * its config is checked: one host (no switchyard:hosts) on a local socket,
 * where docker:host or the environment says. Undefined otherwise: a remote
 * host is never read before the config that reaches it has been checked.
 */
export function likelyRequests(): FactsRequest[] | undefined {
    try {
        // Here, not at the top: the reader thread starts before the SDK loads (startFactsReader).
        const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
        if (new pulumi.Config("switchyard").get("hosts") !== undefined) return undefined;
        const endpoint = resolveDockerEndpoint(new pulumi.Config("docker").get("host"));
        if (!endpoint.host.startsWith("unix://")) return undefined;
        const { stackLabel, proxyContainer } = stackNames(pulumi.getProject(), pulumi.getStack());
        return [factsRequest(stackLabel, proxyContainer, dockerCliEnv(endpoint))];
    } catch {
        return undefined;
    }
}

const script = (): string => packageFile("dist", "engine", "host-facts.js");

function startReader(): Reader {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    const data: FactsWorkerData = { factsReader: true, flag, port: port2 };
    const worker = new Worker(script(), { workerData: data, transferList: [port2] });
    // An idle reader (a program that stopped at a config error) never keeps the program alive.
    worker.unref();
    return { worker, port: port1, flag };
}

/**
 * Starts the reader thread now, for the first readFactsSync, and gives it the
 * likely read (likelyRequests) once that is known: the thread starts first,
 * and loads while the SDK does. Nothing when the engine is not built
 * (readFactsSync says so).
 */
export function startFactsReader(likely: () => FactsRequest[] | undefined = likelyRequests): void {
    if (early || !fs.existsSync(script())) return;
    early = startReader();
    const asked = likely();
    if (asked) {
        early.asked = JSON.stringify(asked);
        early.worker.postMessage(asked);
    }
}

/**
 * Every host's answer, read on the reader thread while this one waits (at
 * most `timeoutMs`). Throws when the engine is not built, the time is up, or
 * the thread could not answer at all.
 */
export function readFactsSync(requests: FactsRequest[], timeoutMs = 30000): FactsAnswer[] {
    if (!early && !fs.existsSync(script())) throw new Error(`switchyard: the release engine is not built (${script()} is missing): run npm run build:program. Nothing was created or changed.`);
    let reader = early;
    early = undefined;
    // A reader started with another read than this one is of no use.
    if (reader?.asked !== undefined && reader.asked !== JSON.stringify(requests)) {
        void reader.worker.terminate();
        reader = undefined;
    }
    reader ??= startReader();
    try {
        if (reader.asked === undefined) reader.worker.postMessage(requests);
        const waited = Atomics.wait(reader.flag, 0, 0, timeoutMs);
        const received = receiveMessageOnPort(reader.port);
        if (!received) throw new Error(waited === "timed-out" ? `no answer within ${timeoutMs / 1000} s` : "the reader thread ended without an answer");
        const reply = received.message as FactsReply;
        if ("error" in reply) throw new Error(reply.error);
        return reply.answers;
    } finally {
        reader.port.close();
        void reader.worker.terminate();
    }
}

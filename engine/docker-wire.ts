// What travels on a connection to the Docker Engine API, as pure functions:
// the HTTP/1.1 responses the engine sends (status, headers, a body sized by
// Content-Length or chunked), and the frames of an attached exec's output
// (stdout and stderr multiplexed: one byte of stream, three of padding, four
// of length, then the payload). engine/dockerapi.ts reads and writes them on
// a unix socket, a TLS connection or ssh's `docker system dial-stdio`;
// test/unit/docker-wire.test.ts feeds them bytes split at every place.

/** One HTTP response as far as it has arrived. */
export interface Response {
    status: number;
    headers: Record<string, string>;
    body: Buffer;
}

/**
 * Reads one response from the bytes given so far. Returns undefined while it
 * is incomplete; otherwise the response and how many bytes it took (what
 * follows belongs to the next response, or, after an upgrade, to the raw
 * stream). `headOnly`: the body is not HTTP's (a hijacked exec), so the
 * response ends with its headers.
 */
export function readResponse(buf: Buffer, headOnly = false): { response: Response; used: number } | undefined {
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) return undefined;
    const [statusLine, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) throw new Error(`not an HTTP response from the Docker engine: ${JSON.stringify(statusLine.slice(0, 80))}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(m[1]);
    const start = end + 4;
    if (headOnly || status === 101 || status === 204 || status === 304) return { response: { status, headers, body: Buffer.alloc(0) }, used: start };
    if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
        const chunked = readChunked(buf, start);
        return chunked && { response: { status, headers, body: chunked.body }, used: chunked.used };
    }
    const length = Number(headers["content-length"] ?? "0");
    if (!Number.isInteger(length) || length < 0) throw new Error(`a Content-Length the Docker engine sent cannot be read: ${headers["content-length"]}`);
    if (buf.length < start + length) return undefined;
    return { response: { status, headers, body: Buffer.from(buf.subarray(start, start + length)) }, used: start + length };
}

/** A chunked body from `at`: its bytes and where it ends, or undefined while incomplete. */
function readChunked(buf: Buffer, at: number): { body: Buffer; used: number } | undefined {
    const parts: Buffer[] = [];
    for (;;) {
        const eol = buf.indexOf("\r\n", at);
        if (eol < 0) return undefined;
        const size = parseInt(buf.subarray(at, eol).toString("latin1").split(";")[0], 16);
        if (!Number.isInteger(size) || size < 0) throw new Error("a chunk size the Docker engine sent cannot be read");
        const data = eol + 2;
        if (size === 0) {
            // No trailers from the engine: the last chunk is followed by one empty line.
            if (buf.length < data + 2) return undefined;
            return { body: Buffer.concat(parts), used: data + 2 };
        }
        if (buf.length < data + size + 2) return undefined;
        parts.push(buf.subarray(data, data + size));
        at = data + size + 2;
    }
}

/** One frame of an attached exec's output: 1 stdout, 2 stderr. */
export interface Frame {
    stream: number;
    data: Buffer;
}

/** Splits the frames that are whole from `buf`; `rest` is the start of the next one. */
export function readFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
    const frames: Frame[] = [];
    let at = 0;
    while (buf.length - at >= 8) {
        const size = buf.readUInt32BE(at + 4);
        if (buf.length - at - 8 < size) break;
        frames.push({ stream: buf[at], data: Buffer.from(buf.subarray(at + 8, at + 8 + size)) });
        at += 8 + size;
    }
    return { frames, rest: Buffer.from(buf.subarray(at)) };
}

/** An HTTP/1.1 request to the engine (the Host is a placeholder: the connection says where). */
export function request(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Buffer {
    const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
    const head = [`${method} ${path} HTTP/1.1`, "Host: docker", ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`)];
    if (body !== undefined) head.push("Content-Type: application/json");
    head.push(`Content-Length: ${payload.length}`, "", "");
    return Buffer.concat([Buffer.from(head.join("\r\n"), "latin1"), payload]);
}

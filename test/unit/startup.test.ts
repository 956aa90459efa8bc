// What our processes load at their start (issue 30: every update runs the
// program and a handful of release steps, each a new node process): the
// program's deferred closure modules (lib/lazymodules.ts), and release steps
// that never load @pulumi/pulumi. Each check runs plain node on the compiled
// files (npm test builds them first): ts-node itself would load TypeScript.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO } from "../../lib/project";

/** Runs `code` in a fresh plain node in the repository; its last stdout line, parsed as JSON. */
function nodeJson<T>(code: string, cwd = REPO): T {
    const r = spawnSync(process.execPath, ["-e", code], { cwd, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
    assert.strictEqual(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split("\n").pop()!) as T;
}

describe("start-up cost", () => {
    it("the program's entry defers TypeScript and arborist: loading @pulumi/pulumi loads neither, and serializing a function still works (it loads them then)", () => {
        const out = nodeJson<{ deferred: string[]; before: string[]; text: string; after: string[] }>(`
            const lazy = require("./dist/lib/lazymodules.js");
            const deferred = lazy.deferClosureModules();
            const pulumi = require("@pulumi/pulumi");
            const real = () => Object.keys(require.cache).filter((k) => /typescript[\\/]lib[\\/]typescript\\.js$|arborist[\\/]lib[\\/]arborist[\\/]index\\.js$/.test(k));
            const before = real();
            pulumi.runtime.serializeFunction(() => 40 + 2).then((r) => console.log(JSON.stringify({ deferred, before, text: r.text, after: real() })));
        `);
        assert.deepStrictEqual(out.deferred.map((f) => path.basename(f)).sort(), ["index.js", "typescript-shim.js"], JSON.stringify(out.deferred));
        assert.deepStrictEqual(out.before, [], "TypeScript or arborist loaded with @pulumi/pulumi");
        assert.match(out.text, /40 \+ 2/, "the serialized function");
        assert.ok(out.after.some((f) => /typescript\.js$/.test(f)), `TypeScript is loaded once a function is serialized: ${JSON.stringify(out.after)}`);
    });

    it("a deferred module loads on first touch and reads as it would have: its keys, its values, default as TypeScript's import helpers make it", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-lazy-"));
        try {
            fs.mkdirSync(path.join(dir, "node_modules", "heavy"), { recursive: true });
            fs.writeFileSync(path.join(dir, "node_modules", "heavy", "index.js"), "globalThis.heavyLoads = (globalThis.heavyLoads || 0) + 1;\nmodule.exports = { Tree: class Tree {}, answer: 42 };\n");
            const out = nodeJson<{ files: number; again: number; afterRequire: number; esModule: boolean; afterFlag: number; answer: number; afterTouch: number; keys: string[]; defaultIsModule: boolean; tree: boolean }>(
                `
                const lazy = require(${JSON.stringify(path.join(REPO, "dist", "lib", "lazymodules.js"))});
                const files = lazy.deferModules(["heavy", "not-installed-anywhere"], process.cwd()).length;
                const again = lazy.deferModules(["heavy"], process.cwd()).length;
                const m = require(require.resolve("heavy", { paths: [process.cwd()] }));
                const afterRequire = globalThis.heavyLoads || 0;
                const esModule = m.__esModule === true;
                const afterFlag = globalThis.heavyLoads || 0;
                const answer = m.answer;
                const afterTouch = globalThis.heavyLoads || 0;
                console.log(JSON.stringify({ files, again, afterRequire, esModule, afterFlag, answer, afterTouch, keys: Object.keys(m).sort(), defaultIsModule: m.default.answer === 42, tree: typeof new m.Tree() === "object" }));
            `,
                dir,
            );
            assert.strictEqual(out.files, 1, "the module that is not installed is left alone");
            assert.strictEqual(out.again, 0, "a module deferred (or loaded) already is left alone");
            assert.strictEqual(out.afterRequire, 0, "require alone does not load it");
            assert.ok(out.esModule);
            assert.strictEqual(out.afterFlag, 0, "asking whether it is an ES module does not load it");
            assert.strictEqual(out.answer, 42);
            assert.strictEqual(out.afterTouch, 1, "the first touch loads it, once");
            assert.deepStrictEqual(out.keys, ["Tree", "answer"]);
            assert.ok(out.defaultIsModule, "default is the module itself, as __importDefault makes it of a CommonJS module");
            assert.ok(out.tree);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the program's entry keeps one frame per stack trace, still naming where an error was thrown; --stack-trace-limit asked for is kept", () => {
        const code = `
            const kept = require("./dist/lib/stacktraces.js").keepOneFrame();
            function thrower() { return new Error("boom"); }
            const lines = thrower().stack.split("\\n");
            console.log(JSON.stringify({ kept, limit: Error.stackTraceLimit, lines }));
        `;
        const one = nodeJson<{ kept: boolean; limit: number; lines: string[] }>(code);
        assert.strictEqual(one.kept, true);
        assert.strictEqual(one.limit, 1);
        assert.strictEqual(one.lines.length, 2, one.lines.join("\n"));
        assert.match(one.lines[1], /at thrower \(/, "the one frame is where the error was made");
        const r = spawnSync(process.execPath, ["--stack-trace-limit=7", "-e", code], { cwd: REPO, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
        assert.strictEqual(r.status, 0, r.stderr);
        const asked = JSON.parse(r.stdout.trim()) as { kept: boolean; limit: number };
        assert.deepStrictEqual([asked.kept, asked.limit], [false, 7], "a limit given on node's command line stays");
        const viaOptions = spawnSync(process.execPath, ["-e", code], { cwd: REPO, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "--stack-trace-limit=30" } });
        assert.strictEqual(viaOptions.status, 0, viaOptions.stderr);
        assert.strictEqual((JSON.parse(viaOptions.stdout.trim()) as { limit: number }).limit, 30, "and one given in NODE_OPTIONS");
    });

    it("no release step loads @pulumi/pulumi or the Automation API (each is a node process of every update)", () => {
        const steps = fs.readdirSync(path.join(REPO, "engine")).filter((f) => f.endsWith(".ts")).map((f) => `./dist/engine/${f.replace(/\.ts$/, ".js")}`);
        assert.ok(steps.length > 20, `the compiled engine: ${steps.length} files`);
        const heavy = nodeJson<Record<string, string[]>>(`
            const out = {};
            for (const f of ${JSON.stringify(steps)}) {
                const before = new Set(Object.keys(require.cache));
                require(f);
                const pulled = Object.keys(require.cache).filter((k) => !before.has(k) && /node_modules[\\/]@pulumi[\\/]/.test(k));
                if (pulled.length) out[f] = pulled.slice(0, 3);
            }
            console.log(JSON.stringify(out));
        `);
        assert.deepStrictEqual(heavy, {}, "steps that load @pulumi/*");
    });
});

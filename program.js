// What `pulumi up` runs (Pulumi.yaml main): the program compiled from index.ts
// by `npm run build:program` (npm run up, npm test and the ops commands run
// it first). Plain JavaScript, so an update compiles nothing; the compiled
// program itself refuses a build older than its sources.
"use strict";
const fs = require("fs");
const path = require("path");

// Pulumi's runner (and ts-node, where a language host still loads it) install
// a source-map-aware Error.prepareStackTrace. The SDK takes a stack trace for
// every resource and every output, and mapping each one cost about a second
// of a no-op update here (issue 30). This code is JavaScript without source
// maps: V8's own formatting gives the same files and lines.
Error.prepareStackTrace = undefined;

const built = path.join(__dirname, "dist", "index.js");
if (!fs.existsSync(built)) {
    throw new Error(`switchyard: the program is not built (${built} is missing): run npm run build:program. Nothing was created or changed.`);
}
// Pulumi's function serialization, which this program never uses, loads the
// TypeScript compiler and npm's arborist when @pulumi/pulumi loads: about half
// a second of every preview and up. They load on first use instead
// (lib/lazymodules.ts).
require(path.join(__dirname, "dist", "lib", "lazymodules.js")).deferClosureModules();
// One frame per stack trace: the SDK takes one for nearly every promise it
// makes (lib/stacktraces.ts). NODE_OPTIONS=--stack-trace-limit=50 for whole ones.
require(path.join(__dirname, "dist", "lib", "stacktraces.js")).keepOneFrame();
// The program reads every Docker host before it declares anything: the reader
// thread starts now, is given the read the program will most likely ask for,
// and reads while the program loads its modules and checks its config
// (lib/factsreader.ts).
require(path.join(__dirname, "dist", "lib", "factsreader.js")).startFactsReader();
module.exports = require(built);

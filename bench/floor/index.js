// The floor for npm run bench:up: a bare program that loads the same three
// provider plugins as Switchyard (docker, command, random) and declares a
// handful of resources. A no-op `pulumi up` of it is what any Pulumi program
// with these plugins pays; Switchyard's figures are read as multiples of it.
// Plain JavaScript, as Switchyard's own program runs (program.js), so neither
// pays for compiling TypeScript and the ratio is the programs' own difference.
"use strict";
const pulumi = require("@pulumi/pulumi");
const command = require("@pulumi/command");
const docker = require("@pulumi/docker");
const random = require("@pulumi/random");

const prefix = `${pulumi.getProject()}-${pulumi.getStack()}`;
const provider = new docker.Provider("docker", { host: process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock" });
const network = new docker.Network("net", { name: `${prefix}-net`, internal: true }, { provider });
const volume = new docker.Volume("data", { name: `${prefix}-data` }, { provider });
const password = new random.RandomPassword("password", { length: 24, special: false });
const step = new command.local.Command("step", { create: "true", environment: { NETWORK: network.name, VOLUME: volume.name } });

exports.names = { network: network.name, volume: volume.name, step: step.id };
exports.secret = password.result;

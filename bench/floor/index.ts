// The floor for npm run bench:up: a bare program that loads the same three
// provider plugins as Switchyard (docker, command, random) and declares a
// handful of resources. A no-op `pulumi up` of it is what any Pulumi program
// with these plugins pays; Switchyard's figures are read as multiples of it.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";

const prefix = `${pulumi.getProject()}-${pulumi.getStack()}`;
const provider = new docker.Provider("docker", { host: process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock" });
const network = new docker.Network("net", { name: `${prefix}-net`, internal: true }, { provider });
const volume = new docker.Volume("data", { name: `${prefix}-data` }, { provider });
const password = new random.RandomPassword("password", { length: 24, special: false });
const step = new command.local.Command("step", { create: "true", environment: { NETWORK: network.name, VOLUME: volume.name } });

export const names = { network: network.name, volume: volume.name, step: step.id };
export const secret = password.result;

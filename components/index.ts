// Switchyard as a component package: `new BlueGreenApp(name, args)` in any
// Pulumi program, or the parts on their own. The release steps and the proxy
// template ship inside the package and are found from it (lib/package.ts).
export { BlueGreenApp, BlueGreenAppArgs } from "./bluegreen";
export { Release, ReleaseArgs, BakeSettings, ColourSettings, ReleaseBackupArgs, SlotDefaults } from "./release";
export { Slot, SlotArgs, HealthSettings } from "./slot";
export { Nginx, NginxArgs, ProxyTls } from "./nginx";
export { Postgres, PostgresArgs } from "./postgres";
export { Redis, RedisArgs } from "./redis";
export { Networks, NetworksArgs } from "./networks";
export { Backups, BackupsArgs } from "./backups";
export { Backup, BackupArgs } from "./backup";
export { Migration, MigrationArgs } from "./migration";
export { Maintenance, MaintenanceArgs } from "./maintenance";
export { Notifier, NotifierArgs } from "./notifier";
export { settingsFromConfig } from "../lib/stackconfig";
export { checkSettings, configSchema, COLOURS, Colour, DEFAULTS, SwitchyardConfig, SwitchyardSettings } from "../lib/config";
export { planRelease, ReleasePlan } from "../lib/release";
export { ReleaseSteps, ReleaseKey } from "../lib/steps";

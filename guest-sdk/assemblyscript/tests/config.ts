// Test operator: onInit reads the config and logs what it found, one line
// per check; the identity map.
import { map, onInit, Config, Record, log, LogLevel, ValueKind, hasFailed } from "../assembly";
export * from "../assembly/exports";

function say(msg: string): void {
  log(LogLevel.Info, msg);
}

onInit((cfg: Config): void => {
  say("pipeline=" + cfg.pipeline + " operator=" + cfg.operator + " instance=" + cfg.instance.toString());
  say("outputs=" + cfg.outputs.join(",") + " audit=" + cfg.hasOutput("audit").toString() + " other=" + cfg.hasOutput("other").toString());
  say("name=" + cfg.getString("name", "d") + " missing=" + cfg.getString("missing", "d") + " nothing=" + cfg.getString("nothing", "d"));
  say("n=" + cfg.getInt("n", 0).toString() + " whole=" + cfg.getInt("whole", 0).toString());
  say("f=" + cfg.getFloat("f", 0).toString() + " nf=" + cfg.getFloat("n", 0).toString());
  say("b=" + cfg.getBool("b", false).toString());
  const big = cfg.param("big");
  say("big=" + (big !== null && big.kind == ValueKind.Uint ? big.uint.toString() : "?"));
  const list = cfg.param("list");
  if (list !== null && list.kind == ValueKind.Array) {
    const a = list.array!;
    say("list=" + a.length.toString() + ":" + a[0].int.toString() + "," + a[1].string);
  }
  const nested = cfg.param("nested");
  if (nested !== null && nested.kind == ValueKind.Map) say("nested.k=" + nested.map!.get("k").string);
  say("failed=" + hasFailed().toString());
  if (cfg.params.has("f")) cfg.getInt("f", 0); // fails: 2.5 is not an integer
});

map((r: Record): Record => r);

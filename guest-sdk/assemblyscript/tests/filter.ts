// Test operator: keeps records with an odd timestamp.
import { filter, Record } from "../assembly";
export * from "../assembly/exports";

filter((r: Record): bool => r.timestamp % 2 == 1);

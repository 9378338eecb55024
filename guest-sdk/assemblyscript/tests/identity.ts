// Test operator: the identity map, which copies every canonical record whole.
import { map, Record } from "../assembly";
export * from "../assembly/exports";

map((r: Record): Record => r);

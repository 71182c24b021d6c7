/**
 * The machines Parley runs, by actor kind (the prefix of an actor id: `c2s:`, `user:`, `room:`).
 * The inspector draws and `deno task machines` documents exactly these.
 */
import type { AnyStateMachine } from "xstate";
import { connectionMachine } from "../actors/connection_machine.ts";
import { userMachine } from "../actors/user_machine.ts";
import { roomMachine } from "../actors/room_machine.ts";

export interface MachineInfo {
  /** actor kind and file stem in docs/machines/ */
  kind: string;
  title: string;
  source: string;
  machine: AnyStateMachine;
}

export const MACHINES: readonly MachineInfo[] = [
  {
    kind: "c2s",
    title: "Client connection (c2s:<streamId>)",
    source: "actors/connection_machine.ts",
    machine: connectionMachine,
  },
  {
    kind: "user",
    title: "User delivery (user:<bareJid>)",
    source: "actors/user_machine.ts",
    machine: userMachine,
  },
  {
    kind: "room",
    title: "MUC room (room:<roomJid>)",
    source: "actors/room_machine.ts",
    machine: roomMachine,
  },
];

export function machineFor(kind: string): MachineInfo | undefined {
  return MACHINES.find((m) => m.kind === kind);
}

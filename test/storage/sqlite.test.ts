import { databaseAvailable } from "../helpers/databases.ts";
import { describeBehaviour } from "./behaviour.ts";

describeBehaviour("sqlite", await databaseAvailable("sqlite"));

import { databaseAvailable } from "../helpers/databases.ts";
import { describeBehaviour } from "./behaviour.ts";

describeBehaviour("postgres", await databaseAvailable("postgres"));

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title The local node's reward token: pre-funds the dev accounts, anyone may mint more.
contract TestToken is ERC20 {
    constructor(address[] memory holders, uint256 amountEach) ERC20("ML Market Test Token", "MLT") {
        for (uint256 i = 0; i < holders.length; i++) {
            _mint(holders[i], amountEach);
        }
    }

    /// @notice Test faucet: mints `amount` to the caller.
    function mint(uint256 amount) external {
        _mint(msg.sender, amount);
    }
}
